#include "common/metrics/metrics.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace kfaas::metrics {

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  // Buckets are few (< 30): a linear scan beats binary search on branch prediction.
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> b;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) b.push_back(v);
  return b;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> b;
  for (int i = 0; i < count; ++i) b.push_back(start + width * i);
  return b;
}

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = ExponentialBuckets(0.0005, 2, 18);
  return kBuckets;
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<T> child;
  if constexpr (std::is_same_v<T, Histogram>) {
    child = std::make_unique<T>(bounds_);
  } else {
    child = std::make_unique<T>();
  }
  T& ref = *child;
  children_.emplace(values, std::move(child));
  return ref;
}

template <typename T>
void Family<T>::Remove(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> l(mu_);
  children_.erase(values);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      const std::vector<std::string>& labels) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end() && it->second->counter) {
    return *it->second->counter;
  }
  auto e = std::make_unique<Entry>();
  e->type = Type::kCounter;
  e->counter = std::make_unique<Family<Counter>>(name, help, labels);
  auto& ref = *e->counter;
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
  return ref;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  const std::vector<std::string>& labels) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end() && it->second->gauge) {
    return *it->second->gauge;
  }
  auto e = std::make_unique<Entry>();
  e->type = Type::kGauge;
  e->gauge = std::make_unique<Family<Gauge>>(name, help, labels);
  auto& ref = *e->gauge;
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
  return ref;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          const std::vector<std::string>& labels,
                                          const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end() && it->second->histogram) {
    return *it->second->histogram;
  }
  auto e = std::make_unique<Entry>();
  e->type = Type::kHistogram;
  e->histogram = std::make_unique<Family<Histogram>>(name, help, labels, bounds);
  auto& ref = *e->histogram;
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
  return ref;
}

void Registry::AddCallback(const std::string& name, const std::string& help, Type type,
                           const std::vector<std::string>& labels,
                           std::function<std::vector<Sample>()> collect) {
  std::lock_guard<std::mutex> l(mu_);
  auto e = std::make_unique<Entry>();
  e->type = type;
  e->name = name;
  e->help = help;
  e->labels = labels;
  e->collect = std::move(collect);
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

namespace {

std::string HelpEscape(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void WriteLabels(std::string& out, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const char* extra_name = nullptr,
                 const std::string& extra_value = "") {
  if (names.empty() && !extra_name) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string Registry::Serialize() const {
  std::vector<Entry*> entries;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  out.reserve(4096);
  for (const Entry* e : entries) {
    const std::string& name = e->counter     ? e->counter->name()
                              : e->gauge     ? e->gauge->name()
                              : e->histogram ? e->histogram->name()
                                             : e->name;
    const std::string& help = e->counter     ? e->counter->help()
                              : e->gauge     ? e->gauge->help()
                              : e->histogram ? e->histogram->help()
                                             : e->help;
    out += "# HELP " + name + " " + HelpEscape(help) + "\n";
    out += "# TYPE " + name + " " + TypeName(e->type) + "\n";
    if (e->counter) {
      e->counter->ForEach([&](const std::vector<std::string>& lv, const Counter& c) {
        out += name;
        WriteLabels(out, e->counter->label_names(), lv);
        out += ' ' + FormatValue(c.Value()) + '\n';
      });
    } else if (e->gauge) {
      e->gauge->ForEach([&](const std::vector<std::string>& lv, const Gauge& g) {
        out += name;
        WriteLabels(out, e->gauge->label_names(), lv);
        out += ' ' + FormatValue(g.Value()) + '\n';
      });
    } else if (e->histogram) {
      const auto& ln = e->histogram->label_names();
      e->histogram->ForEach([&](const std::vector<std::string>& lv, const Histogram& h) {
        auto cum = h.CumulativeCounts();
        const auto& b = h.bounds();
        for (size_t i = 0; i <= b.size(); ++i) {
          out += name + "_bucket";
          WriteLabels(out, ln, lv, "le", i < b.size() ? FormatValue(b[i]) : "+Inf");
          out += ' ' + std::to_string(cum[i]) + '\n';
        }
        out += name + "_sum";
        WriteLabels(out, ln, lv);
        out += ' ' + FormatValue(h.Sum()) + '\n';
        out += name + "_count";
        WriteLabels(out, ln, lv);
        out += ' ' + std::to_string(cum.back()) + '\n';
      });
    } else if (e->collect) {
      for (const auto& s : e->collect()) {
        out += name;
        WriteLabels(out, e->labels, s.label_values);
        out += ' ' + FormatValue(s.value) + '\n';
      }
    }
  }
  return out;
}

}  // namespace kfaas::metrics
