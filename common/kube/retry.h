// Retry helpers, as client-go's k8s.io/client-go/util/retry and wait.Backoff.
//
//   absl::Status s = RetryOnConflict([&]() -> absl::Status {
//     auto fn = client->Get(resources::kFunctions, ns, name);   // re-read on every attempt
//     if (!fn.ok()) return fn.status();
//     (*fn)["metadata"]["labels"]["x"] = "y";
//     return client->Update(resources::kFunctions, ns, *fn).status();
//   });
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "common/base/clock.h"

namespace kfaas::kube {

struct Backoff {
  Duration duration = std::chrono::milliseconds(10);  // the first wait
  double factor = 1.0;                                // each wait is the previous times factor
  double jitter = 0.1;                                // each wait gets + rand[0, jitter) of itself
  int steps = 5;                                      // attempts in all
  Duration cap{0};                                    // > 0: waits never exceed it
};

// retry.DefaultRetry: 5 attempts, 10 ms apart (for conflicts between controllers).
inline Backoff DefaultRetry() { return Backoff{}; }
// retry.DefaultBackoff: 4 attempts, 10 ms growing 5x.
inline Backoff DefaultBackoff() {
  Backoff b;
  b.factor = 5.0;
  b.steps = 4;
  return b;
}

// Runs `fn` until it succeeds or fails with something `retriable` rejects, at most
// backoff.steps times, waiting on `clock` between attempts. Returns fn's last status.
absl::Status RetryOnError(const Backoff& backoff,
                          const std::function<bool(const absl::Status&)>& retriable,
                          const std::function<absl::Status()>& fn, Clock& clock = RealClock::Get());

// RetryOnError for 409 Conflict (kube::IsConflict). `fn` must re-read the object each time.
absl::Status RetryOnConflict(const Backoff& backoff, const std::function<absl::Status()>& fn,
                             Clock& clock = RealClock::Get());
inline absl::Status RetryOnConflict(const std::function<absl::Status()>& fn) {
  return RetryOnConflict(DefaultRetry(), fn);
}

// Blocks for `d` as measured by `clock` (a FakeClock must be advanced by the test).
void SleepFor(Clock& clock, Duration d);
// d plus a random fraction in [0, jitter) of d.
Duration Jittered(Duration d, double jitter);

}  // namespace kfaas::kube
