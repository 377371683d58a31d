# Tests of the Kubernetes client (common/kube). Included by tests/common/CMakeLists.txt.
add_library(kube_test_util STATIC kube_test_util.cc kube_test_server.cc)
target_include_directories(kube_test_util PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(kube_test_util PUBLIC OpenSSL::SSL OpenSSL::Crypto absl::strings
  nlohmann_json::nlohmann_json Boost::system Threads::Threads)

kfaas_test(NAME kube_workqueue_test SRCS kube_workqueue_test.cc DEPS kfaas::kube kube_test_util)
kfaas_test(NAME kube_watch_decoder_test SRCS kube_watch_decoder_test.cc DEPS kfaas::kube)
kfaas_test(NAME kube_config_test SRCS kube_config_test.cc DEPS kfaas::kube kube_test_util)
kfaas_test(NAME kube_rest_client_test SRCS kube_rest_client_test.cc DEPS kfaas::kube kube_test_util
  LABELS integration)
# The same tests again through the Boost.Beast transport (RestConfig::transport = "beast").
gtest_discover_tests(kube_rest_client_test
  DISCOVERY_MODE PRE_TEST
  TEST_PREFIX "Beast."
  PROPERTIES LABELS integration TIMEOUT 120 ENVIRONMENT "KFAAS_TEST_KUBE_TRANSPORT=beast")
kfaas_test(NAME kube_beast_transport_test SRCS kube_beast_transport_test.cc
  DEPS kfaas::kube kube_test_util LABELS integration)
kfaas_test(NAME kube_informer_test SRCS kube_informer_test.cc
  DEPS kfaas::kube kfaas::testutil kube_test_util)
kfaas_test(NAME kube_informer_integration_test SRCS kube_informer_integration_test.cc
  DEPS kfaas::kube kube_test_util LABELS integration)
kfaas_test(NAME kube_leader_election_test SRCS kube_leader_election_test.cc
  DEPS kfaas::kube kfaas::testutil kube_test_util)
kfaas_test(NAME kube_leader_election_integration_test SRCS kube_leader_election_integration_test.cc
  DEPS kfaas::kube kube_test_util LABELS integration)
kfaas_test(NAME kube_event_recorder_test SRCS kube_event_recorder_test.cc
  DEPS kfaas::kube kfaas::testutil kube_test_util)
# Against kfaas-local's API server, when it is part of the tree.
if(TARGET kfaas_apiserver)
  kfaas_test(NAME kube_apiserver_integration_test SRCS kube_apiserver_integration_test.cc
    DEPS kfaas::kube kfaas::apiserver kube_test_util LABELS integration TIMEOUT 300)
endif()
if(TARGET kfaas_apiserver)
  # Driven by hack/bench-informer.sh.
  add_executable(kube_informer_bench kube_informer_bench.cc)
  target_link_libraries(kube_informer_bench PRIVATE kfaas::kube kfaas::apiserver)
endif()
