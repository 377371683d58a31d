#include "activator/core/lb.h"

#include <atomic>
#include <chrono>

namespace kfaas::activator {

uint64_t FastRandom() {
  static std::atomic<uint64_t> seed{
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  thread_local uint64_t x = seed.fetch_add(0x9E3779B97F4A7C15ULL) | 1;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 0x2545F4914F6CDD1DULL;
}

}  // namespace kfaas::activator
