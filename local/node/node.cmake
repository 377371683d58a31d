# kfaas-local's node: the controllers and the process node agent (kfaas::node).
set(_node ${CMAKE_CURRENT_LIST_DIR})
kfaas_library(NAME node
  SRCS ${_node}/process.cc ${_node}/ports.cc ${_node}/probe.cc ${_node}/pod_status.cc
       ${_node}/container_env.cc ${_node}/pod_writer.cc ${_node}/node_agent.cc
  PUBLIC_DEPS kfaas::kube_api kfaas::base Boost::system absl::status absl::statusor
  DEPS kfaas::metrics)
