# libFuzzer targets (fuzz/): built only with -DKFAAS_FUZZ=ON and clang, in their own build
# directory (hack/fuzz.sh uses build-fuzz/), so no clang object file enters the main build.
# Included by the top-level CMakeLists.txt before its subdirectories: with KFAAS_FUZZ=ON every
# library is compiled with coverage instrumentation (fuzzer-no-link) and ASan+UBSan.
option(KFAAS_FUZZ "Build the libFuzzer targets under fuzz/ (needs CMAKE_CXX_COMPILER=clang++)" OFF)
if(KFAAS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KFAAS_FUZZ=ON needs clang: configure a separate build directory with "
                        "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ (hack/fuzz.sh does)")
  endif()
  if(NOT KFAAS_SANITIZE STREQUAL "")
    message(FATAL_ERROR "KFAAS_FUZZ=ON brings its own sanitizers; leave KFAAS_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  # The `fuzz` ctest entries live in the top-level CTestTestfile.
  enable_testing()
  # Targets may name libraries defined later: link items resolve at generation.
  include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)
endif()
