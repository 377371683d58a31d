# The local API server (store, API semantics, HTTP/TLS front end, in-process client).
set(APISERVER_SRCS
  apiserver/api.cc
  apiserver/api_server.cc
  apiserver/controllers.cc
  apiserver/discovery.cc
  apiserver/faults.cc
  apiserver/http_server.cc
  apiserver/local_client.cc
  apiserver/objects.cc
  apiserver/pki.cc
  apiserver/registry.cc
  apiserver/store.cc)
# Until the API-logic implementation (logic.cmake, on another branch) provides schema.cc,
# patch.cc and table.cc, minimal stand-ins keep the server building.
set(APISERVER_LOGIC_DEPS)
if(TARGET kfaas_apiserver_logic)
  list(APPEND APISERVER_LOGIC_DEPS kfaas::apiserver_logic)
endif()
foreach(part schema patch table)
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/apiserver/${part}.cc)
    list(APPEND APISERVER_SRCS apiserver/fallback/${part}_fallback.cc)
  endif()
endforeach()
kfaas_library(NAME apiserver
  SRCS ${APISERVER_SRCS}
  PUBLIC_DEPS kfaas::base kfaas::kube_api nlohmann_json::nlohmann_json absl::status absl::statusor
              ${APISERVER_LOGIC_DEPS}
  DEPS kfaas::http Boost::system OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
