// Load-balancing choice: the power of two random choices among instances with a free slot,
// falling back to the least loaded when both picks are full.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kfaas::activator {

// A fast per-thread random source (xorshift64*).
uint64_t FastRandom();

// Picks among `n` instances given `load(i)` (in flight) and a per-instance `limit` (0 =
// unlimited). Returns the index, or -1 when every instance is full. `rnd` drives the choice.
template <typename LoadFn>
int PickInstance(size_t n, int limit, LoadFn&& load, uint64_t rnd) {
  if (n == 0) return -1;
  auto has_room = [&](size_t i) { return limit <= 0 || load(i) < limit; };
  if (n == 1) return has_room(0) ? 0 : -1;
  size_t a = rnd % n;
  size_t b = (rnd >> 32) % (n - 1);
  if (b >= a) ++b;
  bool ra = has_room(a), rb = has_room(b);
  if (ra && rb) return load(a) <= load(b) ? static_cast<int>(a) : static_cast<int>(b);
  if (ra) return static_cast<int>(a);
  if (rb) return static_cast<int>(b);
  int best = -1;
  for (size_t i = 0; i < n; ++i) {
    if (has_room(i) && (best < 0 || load(i) < load(static_cast<size_t>(best)))) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

}  // namespace kfaas::activator
