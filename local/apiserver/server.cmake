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
# Each pair: the fallback, then the files that would provide the real implementation.
foreach(pair "schema:schema" "table:table" "smp:patch,strategic_merge"
        "apply:patch,apply" "managed:patch,managed_fields")
  string(REPLACE ":" ";" parts ${pair})
  list(GET parts 0 fallback)
  list(GET parts 1 providers)
  string(REPLACE "," ";" providers ${providers})
  set(provided FALSE)
  foreach(p ${providers})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/apiserver/${p}.cc)
      set(provided TRUE)
    endif()
  endforeach()
  if(NOT provided)
    list(APPEND APISERVER_SRCS apiserver/fallback/${fallback}_fallback.cc)
  endif()
endforeach()
kfaas_library(NAME apiserver
  SRCS ${APISERVER_SRCS}
  PUBLIC_DEPS kfaas::base kfaas::kube_api nlohmann_json::nlohmann_json absl::status absl::statusor
              ${APISERVER_LOGIC_DEPS}
  DEPS kfaas::http Boost::system OpenSSL::SSL OpenSSL::Crypto Threads::Threads)

# Load generator for hack/bench-apiserver.sh (HTTP client of a running kfaas-local).
add_executable(kfaas-apiserver-bench bench/apiserver_bench.cc)
target_include_directories(kfaas-apiserver-bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(kfaas-apiserver-bench PRIVATE nlohmann_json::nlohmann_json Boost::system
                      Threads::Threads)
