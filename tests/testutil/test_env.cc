// Linked into every kfaas_test binary: makes KFAAS_SOURCE_DIR and KFAAS_BINARY_DIR available to
// tests however they are started (ctest, or the binary run by hand), unless already set.
#include <cstdlib>

namespace {

struct TestEnv {
  TestEnv() {
    setenv("KFAAS_SOURCE_DIR", KFAAS_TEST_SOURCE_DIR, /*overwrite=*/0);
    setenv("KFAAS_BINARY_DIR", KFAAS_TEST_BINARY_DIR, /*overwrite=*/0);
  }
};

const TestEnv test_env;

}  // namespace
