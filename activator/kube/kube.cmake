if(TARGET kfaas::kube)
  kfaas_library(NAME activator_kube
    SRCS kube/kube_adapters.cc
    PUBLIC_DEPS kfaas::activator_core kfaas::kube)
endif()
include(${CMAKE_CURRENT_SOURCE_DIR}/app/app.cmake OPTIONAL)
