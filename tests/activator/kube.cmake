if(TARGET kfaas::activator_kube AND TARGET kfaas::testutil)
  kfaas_test(NAME activator_kube_test
    SRCS kube_adapters_test.cc
    DEPS kfaas::activator_kube kfaas_activator_testing kfaas::testutil
    LABELS unit)
endif()
