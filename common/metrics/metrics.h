// A small Prometheus client: counters, gauges and histograms with labels, exposed in the text
// format (version 0.0.4). Updates are lock-free atomics, so the data path can record per
// request; a child for a label set is created once (under a lock) and its reference kept.
//
//   auto& requests = registry.AddCounter("kfaas_activator_requests_total", "Requests.",
//                                        {"namespace", "function", "code"});
//   requests.WithLabels({"default", "hello", "200"}).Inc();
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kfaas::metrics {

class Counter {
 public:
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double v);
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  // Cumulative counts per bound (the last entry is +Inf).
  std::vector<uint64_t> CumulativeCounts() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket helpers.
std::vector<double> ExponentialBuckets(double start, double factor, int count);
std::vector<double> LinearBuckets(double start, double width, int count);
// 0.5 ms .. ~65 s, factor 2: latencies from the data path to cold starts.
const std::vector<double>& DefaultLatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The child for these label values (created on first use). The reference stays valid until
  // Remove() of the same values or the family's destruction.
  T& WithLabels(const std::vector<std::string>& values);
  void Remove(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename F>
  void ForEach(F&& f) const {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [k, v] : children_) f(k, *v);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// A sample produced at scrape time by a callback (for values owned elsewhere, e.g. queue depth).
struct Sample {
  std::vector<std::string> label_values;
  double value;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must be unique in a registry; adding a name twice returns the existing family.
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              const std::vector<std::string>& labels = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          const std::vector<std::string>& labels = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  const std::vector<std::string>& labels,
                                  const std::vector<double>& bounds = DefaultLatencyBuckets());
  // A gauge (or counter) family whose samples are computed at scrape time.
  void AddCallback(const std::string& name, const std::string& help, Type type,
                   const std::vector<std::string>& labels,
                   std::function<std::vector<Sample>()> collect);

  // The text exposition format, families in registration order.
  std::string Serialize() const;

 private:
  struct Entry {
    Type type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
    std::string name, help;
    std::vector<std::string> labels;
    std::function<std::vector<Sample>()> collect;
  };
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::map<std::string, Entry*> by_name_;
};

// Escapes a label value for the text format (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);
// Formats a sample value as Prometheus does ("+Inf", "NaN", shortest round-trip decimal).
std::string FormatValue(double v);

}  // namespace kfaas::metrics
