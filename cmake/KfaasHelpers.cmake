# kfaas_library(NAME <name> SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
#   Defines static library kfaas_<name> with alias kfaas::<name>.
function(kfaas_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(kfaas_${A_NAME} STATIC ${A_SRCS})
  add_library(kfaas::${A_NAME} ALIAS kfaas_${A_NAME})
  target_include_directories(kfaas_${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(kfaas_${A_NAME} PUBLIC ${A_PUBLIC_DEPS} PRIVATE ${A_DEPS})
endfunction()

# kfaas_test(NAME <name> SRCS ... [DEPS ...] [LABELS ...] [TIMEOUT s])
#   A GoogleTest binary; each TEST becomes one ctest entry (discovered before running).
#   LABELS: unit (fast, no processes), integration (real servers on loopback), e2e (kubectl, processes).
function(kfaas_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_include_directories(${A_NAME} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  if(NOT TARGET kfaas_test_env)
    # An OBJECT library, so its static initializer is always linked in.
    add_library(kfaas_test_env OBJECT ${PROJECT_SOURCE_DIR}/tests/testutil/test_env.cc)
    target_compile_definitions(kfaas_test_env PRIVATE
      KFAAS_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}" KFAAS_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}")
  endif()
  target_link_libraries(${A_NAME} PRIVATE kfaas_test_env ${A_DEPS} GTest::gmock GTest::gtest
                                          GTest::gtest_main)
  # kfaas_fast_tests builds every unit and integration test (hack/sanitize.sh asan).
  if(NOT "e2e" IN_LIST A_LABELS)
    if(NOT TARGET kfaas_fast_tests)
      add_custom_target(kfaas_fast_tests)
    endif()
    add_dependencies(kfaas_fast_tests ${A_NAME})
  endif()
  gtest_discover_tests(${A_NAME}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()
