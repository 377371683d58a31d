kfaas_test(NAME selector_test SRCS selector_test.cc DEPS kfaas::kube_api LABELS unit)
