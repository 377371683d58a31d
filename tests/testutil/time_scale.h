// Wall-clock budgets in tests, scaled for instrumented builds.
//
// A test that asserts "within T" or configures short leases, deadlines and silence timeouts
// measures the machine as much as the code under ThreadSanitizer (5-15x slower, more on a
// shared 2-core machine). Such a test multiplies its durations by kTimeScale: 1 in the normal
// build (where the budgets mean what they say), larger under a sanitizer, where the test is
// there to find races rather than to time anything.
#pragma once

#include <chrono>

namespace kfaas::testing {

#if defined(__SANITIZE_THREAD__)
inline constexpr int kTimeScale = 4;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int kTimeScale = 2;
#else
inline constexpr int kTimeScale = 1;
#endif

// d * kTimeScale, in d's own unit.
template <typename Rep, typename Period>
constexpr std::chrono::duration<Rep, Period> Scaled(std::chrono::duration<Rep, Period> d) {
  return d * kTimeScale;
}

}  // namespace kfaas::testing
