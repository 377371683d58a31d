kfaas_library(NAME activator_testing
  SRCS test_backend.cc harness.cc
  PUBLIC_DEPS kfaas::activator_net Boost::system)
kfaas_test(NAME activator_proxy_test
  SRCS proxy_test.cc
  DEPS kfaas_activator_testing
  LABELS integration
  TIMEOUT 120)
kfaas_test(NAME activator_burst_test
  SRCS burst_test.cc
  DEPS kfaas_activator_testing
  LABELS integration
  TIMEOUT 300)
