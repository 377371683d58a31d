if(TARGET kfaas::activator_kube)
  kfaas_library(NAME activator_app
    SRCS app/app.cc app/static_source.cc
    PUBLIC_DEPS kfaas::activator_core kfaas::activator_net kfaas::activator_kube kfaas::http
                kfaas::metrics kfaas::autoscaler_activator Boost::program_options)
  add_executable(kfaas-activator main.cc)
  target_link_libraries(kfaas-activator PRIVATE kfaas::activator_app)
endif()
