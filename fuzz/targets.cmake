# libFuzzer targets, included by fuzz.cmake at top-level scope; binaries in <build>/fuzz/.
# Each fuzz_<name> has a seed corpus in corpus/<name>/ and a ctest entry (label `fuzz`) that
# runs it for KFAAS_FUZZ_CI_SECONDS.
set(KFAAS_FUZZ_CI_SECONDS 10 CACHE STRING "Seconds each fuzz target runs as a ctest entry")
add_custom_target(fuzz_all)

function(kfaas_fuzzer name)
  cmake_parse_arguments(A "" "MAX_LEN" "DEPS" ${ARGN})
  if(NOT A_MAX_LEN)
    set(A_MAX_LEN 4096)
  endif()
  add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/${name}_fuzzer.cc)
  set_target_properties(fuzz_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
  target_include_directories(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(fuzz_${name} PRIVATE ${A_DEPS})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(fuzz_all fuzz_${name})
  # New inputs go to the first (scratch) directory; the seeds stay untouched.
  set(scratch ${PROJECT_BINARY_DIR}/fuzz/corpus/${name})
  file(MAKE_DIRECTORY ${scratch} ${PROJECT_BINARY_DIR}/fuzz/artifacts/${name})
  add_test(NAME fuzz_${name}
    COMMAND fuzz_${name} -artifact_prefix=${PROJECT_BINARY_DIR}/fuzz/artifacts/${name}/
            -max_total_time=${KFAAS_FUZZ_CI_SECONDS} -max_len=${A_MAX_LEN}
            -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
            ${scratch} ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz
                       TIMEOUT 120 ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
  set_property(GLOBAL APPEND PROPERTY KFAAS_FUZZERS "${name}:${A_MAX_LEN}")
endfunction()

kfaas_fuzzer(kubeconfig DEPS kfaas::kube)
kfaas_fuzzer(function_spec DEPS kfaas::operator_api)
kfaas_fuzzer(routing DEPS kfaas::activator_core)
kfaas_fuzzer(watch_decoder DEPS kfaas::kube)
kfaas_fuzzer(patch DEPS kfaas::apiserver_logic)

# The list hack/fuzz.sh runs: one "name max_len" per line.
get_property(fuzzers GLOBAL PROPERTY KFAAS_FUZZERS)
string(REPLACE ";" "\n" fuzzers "${fuzzers}")
string(REPLACE ":" " " fuzzers "${fuzzers}")
file(WRITE ${PROJECT_BINARY_DIR}/fuzz/fuzzers.txt "${fuzzers}\n")
