# Tests of kfaas-local's node (local/node). Included from tests/local/CMakeLists.txt.
if(TARGET kfaas_node)
  function(kfaas_node_test name labels)
    kfaas_test(NAME ${name} SRCS ${CMAKE_CURRENT_LIST_DIR}/${name}.cc
      DEPS kfaas::node kfaas::testutil LABELS ${labels} TIMEOUT 180)
    target_compile_definitions(${name} PRIVATE
      KFAAS_NODE_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}" KFAAS_NODE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    add_dependencies(${name} hello-function)
  endfunction()
  kfaas_node_test(node_agent_test integration)
endif()
if(TARGET kfaas_node)
  kfaas_node_test(node_deployment_test unit)
endif()
if(TARGET kfaas_node)
  kfaas_node_test(node_endpoints_test unit)
endif()
