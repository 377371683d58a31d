# kfaas-local's node: the controllers and the process node agent (kfaas::node).
set(_node ${CMAKE_CURRENT_LIST_DIR})
kfaas_library(NAME node
  SRCS ${_node}/process.cc ${_node}/ports.cc ${_node}/probe.cc ${_node}/pod_status.cc
       ${_node}/container_env.cc ${_node}/pod_writer.cc ${_node}/node_agent.cc
       ${_node}/controller_loop.cc ${_node}/deployment_logic.cc ${_node}/deployment_controller.cc
       ${_node}/endpoints_logic.cc ${_node}/endpoints_controller.cc ${_node}/node.cc
  PUBLIC_DEPS kfaas::kube kfaas::kube_api kfaas::base Boost::system absl::status absl::statusor
  DEPS kfaas::metrics)

# Cold-start benchmark of the node (hack/bench-coldstart-node.sh runs it).
if(TARGET kfaas_apiserver)
  add_executable(kfaas-node-bench ${_node}/bench_coldstart_main.cc)
  target_include_directories(kfaas-node-bench PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(kfaas-node-bench PRIVATE kfaas::node kfaas::apiserver kfaas::kube
                        Boost::program_options)
  set_target_properties(kfaas-node-bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endif()
