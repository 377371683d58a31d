# Pure API-server algorithms: label/field selectors live in kfaas::kube_api; here structural
# schemas, strategic merge patch, server-side apply, Table output and JSONPath.
set(APISERVER_LOGIC_SRCS apiserver/go_format.cc apiserver/schema.cc)
foreach(f patch.cc strategic_merge.cc apply.cc managed_fields.cc table.cc jsonpath.cc)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/apiserver/${f})
    list(APPEND APISERVER_LOGIC_SRCS apiserver/${f})
  endif()
endforeach()
kfaas_library(NAME apiserver_logic
  SRCS ${APISERVER_LOGIC_SRCS}
  PUBLIC_DEPS kfaas::kube_api kfaas::base nlohmann_json::nlohmann_json absl::status
              absl::statusor
  DEPS re2::re2)
