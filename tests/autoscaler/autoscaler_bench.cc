// autoscaler_bench: how well replicas follow load. Prints tables; run by hack/bench-autoscaler.sh.
//
//   step    Real time, real gRPC: a fake activator's in-flight count steps (e.g. 1 -> 200 at
//           target 10); the time until the loop's /scale write reaches ceil(in-flight/target).
//           That is the whole path: activator poll -> stats stream -> loop -> decision -> write.
//   spike   Simulated time: the seed's Hacker News spike (10 -> 50,000 requests a minute in five
//           minutes, held, then decaying) replayed through kfaas' decider and through a model of
//           KEDA + HPA defaults (30 s / 15 s polls, 10 % tolerance, 4 pods or 100 % per 15 s up,
//           300 s down-stabilisation). Instances are ready `startup` after they are asked for.
//           Tracking error: |ready - ideal| where ideal = ceil(concurrency / target) of the load
//           without its noise.
//
// Flags: --mode step|spike|all  --steps N  --duration-ms D (function latency, spike)
//        --startup-ms S  --target T  --seed N
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "autoscaler/core/decider.h"
#include "autoscaler/loop/scaling_loop.h"
#include "autoscaler/loop/stats_collector.h"
#include "autoscaler/service/activator_scaler_server.h"
#include "common/base/log.h"
#include "common/metrics/metrics.h"
#include "tests/autoscaler/fakes.h"
#include "tests/autoscaler/loop_fakes.h"

namespace kfaas::autoscaler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Flags {
  std::string mode = "all";
  int steps = 5;
  int duration_ms = 200;
  int startup_ms = 1000;
  int target = 10;
  int seed = 1;
};

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// ---- step: real time through gRPC -------------------------------------------------------------

void StepBench(const Flags& f) {
  testing::FakeStatsSource stats;
  testing::FakeFunctionInfo functions;
  functions.Add("default", "hello", f.target);
  ActivatorScalerServer activator({.stats = &stats, .functions = &functions},
                                  {.address = "127.0.0.1:0", .activator_id = "bench"});
  if (!activator.Start().ok()) {
    std::fprintf(stderr, "cannot start the activator gRPC port\n");
    return;
  }
  struct Case {
    int from, to;
  };
  // The last is below the panic threshold (x1.5): it follows the 6 s average instead.
  const std::vector<Case> cases = {{1, 200}, {10, 1000}, {50, 150}, {1, 25}, {100, 150}};
  std::printf("\n== step: time from a load step to the right replica count (real gRPC path)\n");
  std::printf("%-14s %8s %10s %10s %10s %10s\n", "STEP", "TARGET", "REPLICAS", "MIN(ms)",
              "MEDIAN(ms)", "MAX(ms)");
  for (const Case& c : cases) {
    std::vector<double> delays;
    for (int i = 0; i < f.steps; ++i) {
      testing::FakeTargets targets;
      const int from_replicas = ReplicasFor(c.from, f.target);
      targets.Set("default", "hello", from_replicas, from_replicas,
                  {.min = 0, .max = 1000, .target = f.target});
      testing::FakeWriter writer(&targets);
      metrics::Registry registry;
      ScalingLoop loop(targets, writer, nullptr, RealClock::Get(), registry);
      StatsCollector collector(loop, {.interval = milliseconds(200)}, nullptr);
      stats.Set("default", "hello", c.from, 0, c.from);
      // Only connect once the activator shows the starting load (not the previous case's).
      activator.Notify();
      while (true) {
        auto snap = activator.hub().Latest();
        const FunctionActivity* a = snap->Find("default", "hello");
        if (a && a->Concurrency() == c.from) break;
        std::this_thread::sleep_for(milliseconds(5));
      }
      collector.SetAddresses({"127.0.0.1:" + std::to_string(activator.port())});
      loop.Start();
      // Settle at the starting load.
      const auto settle = std::chrono::steady_clock::now() + seconds(5);
      while (loop.Concurrency("default", "hello") != c.from &&
             std::chrono::steady_clock::now() < settle) {
        std::this_thread::sleep_for(milliseconds(5));
      }
      std::this_thread::sleep_for(milliseconds(300 + 97 * i));  // vary the phase vs. the tick
      const int want = ReplicasFor(c.to, f.target);
      if (targets.Get("default", "hello").replicas != from_replicas) {
        std::fprintf(stderr, "bench: replicas moved before the step\n");
      }
      const auto start = std::chrono::steady_clock::now();
      stats.Set("default", "hello", c.to, 0, c.to - c.from);
      while (targets.Get("default", "hello").replicas < want &&
             std::chrono::steady_clock::now() - start < seconds(30)) {
        std::this_thread::sleep_for(milliseconds(1));
      }
      delays.push_back(Ms(std::chrono::steady_clock::now() - start));
      loop.Stop();
      collector.Stop();
    }
    std::sort(delays.begin(), delays.end());
    char step[32];
    std::snprintf(step, sizeof(step), "%d -> %d", c.from, c.to);
    std::printf("%-14s %8d %10d %10.0f %10.0f %10.0f\n", step, f.target,
                ReplicasFor(c.to, f.target), delays.front(), delays[delays.size() / 2],
                delays.back());
  }
  std::printf(
      "(%d steps each; the activator is not told of the change: it is found by polling "
      "its counters every 50 ms, as with a real activator that does not call Notify)\n",
      f.steps);
  activator.Stop();
}

// ---- spike: simulated time ---------------------------------------------------------------------

// Requests per second at time t (seconds) in the seed's spike: 10/min, then 5 min of
// exponential growth to 50,000/min, 10 min held, 10 min exponential decay back, 5 min quiet.
double SpikeRate(double t) {
  const double lo = 10.0 / 60, hi = 50000.0 / 60;
  if (t < 60) return lo;
  t -= 60;
  if (t < 300) return lo * std::pow(hi / lo, t / 300);
  t -= 300;
  if (t < 600) return hi;
  t -= 600;
  if (t < 600) return hi * std::pow(lo / hi, t / 600);
  return lo;
}
constexpr double kSpikeLength = 60 + 300 + 600 + 600 + 300;

// Instances asked for become ready `startup` later; fewer asked for stop at once.
class Fleet {
 public:
  explicit Fleet(double startup) : startup_(startup) {}
  void Set(double now, int replicas) {
    if (replicas > replicas_) {
      for (int i = replicas_; i < replicas; ++i) pending_.push_back(now + startup_);
    } else {
      const int drop = replicas_ - replicas;
      for (int i = 0; i < drop; ++i) {
        if (!pending_.empty()) {
          pending_.pop_back();
        } else {
          --ready_;
        }
      }
    }
    replicas_ = replicas;
  }
  void Advance(double now) {
    while (!pending_.empty() && pending_.front() <= now) {
      pending_.pop_front();
      ++ready_;
    }
  }
  int replicas() const { return replicas_; }
  int ready() const { return ready_; }

 private:
  double startup_;
  int replicas_ = 1, ready_ = 1;
  std::deque<double> pending_;
};

struct Score {
  double abs_error = 0;        // replica-seconds of |ready - ideal|
  double under = 0;            // replica-seconds short of ideal
  double over = 0;             // replica-seconds above ideal
  double replica_seconds = 0;  // what was paid for
  double ideal_seconds = 0;
  int writes = 0;
  int peak = 0;
  double first_reach = -1;  // seconds after the plateau starts until ready >= ideal
};

struct Sample {
  double t, concurrency;
  int ideal;
};

std::vector<Sample> SpikeLoad(const Flags& f, double dt) {
  std::mt19937 rng(f.seed);
  std::uniform_real_distribution<double> noise(-0.1, 0.1);
  std::vector<Sample> out;
  for (double t = 0; t < kSpikeLength; t += dt) {
    // Little's law: concurrency = arrival rate x latency. The autoscalers see it with noise;
    // the ideal follows the underlying load.
    const double mean = SpikeRate(t) * f.duration_ms / 1000.0;
    out.push_back({t, mean * (1 + noise(rng)), std::max(1, ReplicasFor(mean, f.target))});
  }
  return out;
}

void Account(Score& s, const Sample& x, const Fleet& fleet, double dt) {
  const int ready = fleet.ready();
  s.abs_error += std::abs(ready - x.ideal) * dt;
  s.under += std::max(0, x.ideal - ready) * dt;
  s.over += std::max(0, ready - x.ideal) * dt;
  s.replica_seconds += fleet.replicas() * dt;
  s.ideal_seconds += x.ideal * dt;
  s.peak = std::max(s.peak, fleet.replicas());
  if (s.first_reach < 0 && x.t >= 360 && ready >= x.ideal) s.first_reach = x.t - 360;
}

// kfaas: reports every 200 ms, a decision every second and at once on a burst.
Score RunKfaas(const Flags& f, const std::vector<Sample>& load, double dt) {
  Decider d;
  Fleet fleet(f.startup_ms / 1000.0);
  Score s;
  const ScaleBounds bounds{.min = 0, .max = 1000, .target = f.target};
  const SteadyTime t0 = SteadyTime{} + std::chrono::hours(1);
  double next_tick = 0, next_report = 0;
  for (const Sample& x : load) {
    fleet.Advance(x.t);
    const SteadyTime now =
        t0 + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(x.t));
    bool decide = false;
    if (x.t >= next_report) {
      d.Observe(now, x.concurrency);
      next_report += 0.2;
      decide = d.IsBurst(x.concurrency, fleet.replicas(), fleet.ready(), f.target);
    }
    if (x.t >= next_tick) {
      decide = true;
      next_tick += 1.0;
    }
    if (decide) {
      Decision dec = d.Decide({now, fleet.replicas(), fleet.ready(), bounds});
      if (dec.write) {
        fleet.Set(x.t, *dec.write);
        ++s.writes;
      }
    }
    Account(s, x, fleet, dt);
  }
  return s;
}

// KEDA + HPA defaults: the HPA syncs every 15 s and reads the metric (GetMetrics) then;
// desired = ceil(metric / target) unless within 10 %; up at most max(4, 100 %) per 15 s;
// down to the highest recommendation of the last 300 s.
Score RunKedaHpa(const Flags& f, const std::vector<Sample>& load, double dt) {
  Fleet fleet(f.startup_ms / 1000.0);
  Score s;
  double next_sync = 0;
  std::deque<std::pair<double, int>> recs;
  for (const Sample& x : load) {
    fleet.Advance(x.t);
    if (x.t >= next_sync) {
      next_sync += 15;
      const int cur = fleet.replicas();
      // The HPA uses AverageValue over ready pods' count as current: ratio vs. spec replicas.
      const double ratio = x.concurrency / f.target / std::max(cur, 1);
      int desired = cur;
      if (std::abs(ratio - 1) > 0.1) desired = std::max(1, ReplicasFor(x.concurrency, f.target));
      recs.push_back({x.t, desired});
      while (!recs.empty() && x.t - recs.front().first > 300) recs.pop_front();
      int stabilized = desired;
      for (auto& r : recs) stabilized = std::max(stabilized, r.second);
      if (desired > cur) stabilized = std::min(desired, std::max(cur + 4, cur * 2));
      stabilized = std::clamp(stabilized, 1, 1000);
      if (stabilized != cur) {
        fleet.Set(x.t, stabilized);
        ++s.writes;
      }
    }
    Account(s, x, fleet, dt);
  }
  return s;
}

void SpikeBench(const Flags& f) {
  const double dt = 0.05;
  auto load = SpikeLoad(f, dt);
  std::printf(
      "\n== spike: the seed's 10 -> 50,000 req/min in 5 min (held 10 min, decays over 10 min)\n");
  std::printf(
      "function latency %d ms (peak concurrency ~%.0f), target %d, instance startup %d ms, "
      "+-10%% noise, %.0f s simulated\n",
      f.duration_ms, 50000.0 / 60 * f.duration_ms / 1000, f.target, f.startup_ms, kSpikeLength);
  std::printf("%-12s %12s %12s %12s %12s %8s %6s %16s\n", "AUTOSCALER", "MEAN|ERR|", "UNDER(r*s)",
              "OVER(r*s)", "COST/IDEAL", "WRITES", "PEAK", "PLATEAU-REACH(s)");
  auto row = [&](const char* name, const Score& s) {
    std::printf("%-12s %12.2f %12.0f %12.0f %12.2f %8d %6d %16.1f\n", name,
                s.abs_error / kSpikeLength, s.under, s.over, s.replica_seconds / s.ideal_seconds,
                s.writes, s.peak, s.first_reach);
  };
  row("kfaas", RunKfaas(f, load, dt));
  row("keda+hpa", RunKedaHpa(f, load, dt));
  std::printf(
      "(MEAN|ERR|: replicas ready vs. ceil(concurrency/target), averaged over time; "
      "UNDER/OVER: replica-seconds short of / above it; COST/IDEAL: replica-seconds paid "
      "vs. ideal; PLATEAU-REACH: seconds into the plateau until ready >= ideal)\n");
}

}  // namespace
}  // namespace kfaas::autoscaler

int main(int argc, char** argv) {
  kfaas::autoscaler::Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode")
      f.mode = v;
    else if (k == "--steps")
      f.steps = std::stoi(v);
    else if (k == "--duration-ms")
      f.duration_ms = std::stoi(v);
    else if (k == "--startup-ms")
      f.startup_ms = std::stoi(v);
    else if (k == "--target")
      f.target = std::stoi(v);
    else if (k == "--seed")
      f.seed = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  kfaas::log::SetMinSeverity(kfaas::log::Severity::kWarning);
  if (f.mode == "step" || f.mode == "all") kfaas::autoscaler::StepBench(f);
  if (f.mode == "spike" || f.mode == "all") kfaas::autoscaler::SpikeBench(f);
  return 0;
}
