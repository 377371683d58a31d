# The local API server's tests: semantics through the in-process client (unit), HTTP/TLS on
# loopback (integration), and the real kubectl (e2e).
if(TARGET kfaas_apiserver)
  kfaas_test(NAME apiserver_core_test SRCS apiserver_core_test.cc
    DEPS kfaas::apiserver LABELS unit)
  kfaas_test(NAME apiserver_http_test SRCS apiserver_http_test.cc
    DEPS kfaas::apiserver Boost::system OpenSSL::SSL OpenSSL::Crypto LABELS integration)
  kfaas_test(NAME apiserver_kubectl_test SRCS apiserver_kubectl_test.cc
    DEPS kfaas::apiserver Boost::system OpenSSL::SSL OpenSSL::Crypto LABELS e2e TIMEOUT 300)
endif()
