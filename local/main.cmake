# The kfaas-local binary: build/local/kfaas-local.
add_executable(kfaas-local main.cc)
target_include_directories(kfaas-local PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(kfaas-local PRIVATE kfaas::apiserver kfaas::base Boost::program_options)
if(TARGET kfaas_node)
  target_link_libraries(kfaas-local PRIVATE kfaas::node)
endif()
set_target_properties(kfaas-local PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
