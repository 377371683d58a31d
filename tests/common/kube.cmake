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
kfaas_test(NAME kube_informer_test SRCS kube_informer_test.cc
  DEPS kfaas::kube kfaas::testutil kube_test_util)
kfaas_test(NAME kube_informer_integration_test SRCS kube_informer_integration_test.cc
  DEPS kfaas::kube kube_test_util LABELS integration)
