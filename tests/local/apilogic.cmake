# Tests of the pure API-server algorithms (local/apiserver/logic.cmake).
foreach(t schema_test strategic_merge_test apply_test table_test apilogic_random_test
    field_sets_test)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.cc)
    kfaas_test(NAME ${t} SRCS ${t}.cc DEPS kfaas::apiserver_logic LABELS unit)
  endif()
endforeach()
