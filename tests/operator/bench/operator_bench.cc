// operator_bench: creates N Functions through the API, concurrently, and measures how long the
// operator takes until every one has its Deployment, its Service and a written status. Run by
// hack/bench-operator.sh, which starts the API server and the operator and prints the table.
//
//   operator_bench --kubeconfig K --count 10000 --concurrency 32 --operator-pid PID
#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include <boost/program_options.hpp>

#include "common/base/log.h"
#include "common/kube/rest_client.h"

namespace po = boost::program_options;
using kfaas::kube::Json;
namespace res = kfaas::kube::resources;
using Clock = std::chrono::steady_clock;

namespace {

// VmRSS / VmHWM of a process in MiB (0 when unknown).
double ProcMiB(int pid, const std::string& field) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return 0;
}

// Counts distinct names seen by a watch predicate, re-listing when a watch ends.
class Tracker {
 public:
  Tracker(std::shared_ptr<kfaas::kube::RestClient> client, kfaas::kube::Resource r, std::string ns,
          std::string selector, std::function<bool(const Json&)> done)
      : client_(std::move(client)),
        r_(std::move(r)),
        ns_(std::move(ns)),
        selector_(std::move(selector)),
        done_(std::move(done)) {}

  void Start(size_t want, Clock::time_point t0) {
    want_ = want;
    t0_ = t0;
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stream_) stream_->Stop();
    }
    if (thread_.joinable()) thread_.join();
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu_);
    return names_.size();
  }
  double completed_seconds() const { return completed_.load(); }  // < 0 until complete

 private:
  void Observe(const Json& obj) {
    if (!done_(obj)) return;
    std::lock_guard<std::mutex> l(mu_);
    names_.insert(obj["metadata"].value("name", ""));
    if (names_.size() >= want_ && completed_.load() < 0) {
      completed_ = std::chrono::duration<double>(Clock::now() - t0_).count();
    }
  }
  void Run() {
    while (!stop_) {
      auto list = client_->List(r_, ns_, {.label_selector = selector_});
      if (!list.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      for (const auto& item : (*list)["items"]) Observe(item);
      std::string rv = (*list)["metadata"].value("resourceVersion", "");
      while (!stop_) {
        auto w = client_->Watch(
            r_, ns_, {.label_selector = selector_, .resource_version = rv, .timeout_seconds = 300});
        if (!w.ok()) break;
        {
          std::lock_guard<std::mutex> l(mu_);
          stream_ = std::move(*w);
        }
        kfaas::kube::WatchEvent ev;
        bool expired = false;
        while (!stop_ && stream_->Next(&ev)) {
          if (ev.type == kfaas::kube::WatchEvent::Type::kError) {
            expired = true;
            break;
          }
          std::string next = ev.object["metadata"].value("resourceVersion", "");
          if (!next.empty()) rv = next;
          if (ev.type == kfaas::kube::WatchEvent::Type::kAdded ||
              ev.type == kfaas::kube::WatchEvent::Type::kModified) {
            Observe(ev.object);
          }
        }
        if (expired) break;  // relist
      }
    }
  }

  std::shared_ptr<kfaas::kube::RestClient> client_;
  kfaas::kube::Resource r_;
  std::string ns_, selector_;
  std::function<bool(const Json&)> done_;
  size_t want_ = 0;
  Clock::time_point t0_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<double> completed_{-1};
  std::mutex mu_;
  std::set<std::string> names_;
  std::unique_ptr<kfaas::kube::WatchStream> stream_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig, ns = "bench";
  int count = 10000, concurrency = 32, operator_pid = 0, timeout = 600;
  po::options_description desc("operator_bench flags");
  desc.add_options()("help,h", "help")("kubeconfig", po::value(&kubeconfig), "kubeconfig")(
      "namespace", po::value(&ns)->default_value(ns), "namespace to create the Functions in")(
      "count", po::value(&count)->default_value(count), "Functions to create")(
      "concurrency", po::value(&concurrency)->default_value(concurrency), "concurrent creates")(
      "operator-pid", po::value(&operator_pid), "the operator's pid, for its RSS")(
      "timeout", po::value(&timeout)->default_value(timeout), "give up after (seconds)");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  kfaas::log::SetMinSeverity(kfaas::log::Severity::kWarning);
  auto client = kfaas::kube::RestClient::FromOptions({.kubeconfig = kubeconfig},
                                                     [&](kfaas::kube::RestConfig& c) {
                                                       c.qps = 0;  // no client-side limit
                                                       // The load generator's CPU competes with
                                                       // the operator's: the cheaper transport.
                                                       c.transport = "beast";
                                                       c.user_agent = "operator-bench";
                                                     });
  if (!client.ok()) {
    std::cerr << "operator_bench: " << client.status() << "\n";
    return 1;
  }
  auto c = *client;
  auto ns_created =
      c->Create(res::kNamespaces, "",
                {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (!ns_created.ok() && !absl::IsAlreadyExists(ns_created.status())) {
    std::cerr << "operator_bench: creating namespace " << ns << ": " << ns_created.status() << "\n";
    return 1;
  }

  auto t0 = Clock::now();
  Tracker deployments(c, res::kDeployments, ns, "kfaas.dev/function",
                      [](const Json&) { return true; });
  Tracker services(c, res::kServices, ns, "kfaas.dev/function", [](const Json&) { return true; });
  Tracker statuses(c, res::kFunctions, ns, "", [](const Json& fn) {
    auto st = fn.find("status");
    if (st == fn.end() || !st->is_object()) return false;
    return st->value("observedGeneration", 0) >= 1 && !st->value("url", "").empty() &&
           st->contains("conditions");
  });
  for (Tracker* t : {&deployments, &services, &statuses}) t->Start(count, t0);

  std::atomic<int> next{0}, created{0}, failed{0};
  std::atomic<double> create_seconds{0};
  std::vector<std::thread> creators;
  for (int i = 0; i < concurrency; ++i) {
    creators.emplace_back([&] {
      for (int n = next++; n < count; n = next++) {
        char name[32];
        std::snprintf(name, sizeof(name), "fn-%05d", n);
        Json fn = {{"apiVersion", "kfaas.dev/v1alpha1"},
                   {"kind", "Function"},
                   {"metadata", {{"name", name}, {"namespace", ns}}},
                   {"spec",
                    {{"image", "registry.example.com/bench:1"},
                     {"command", {"/bin/true"}},
                     {"env", {{{"name", "N"}, {"value", std::to_string(n)}}}}}}};
        auto r = c->Create(res::kFunctions, ns, fn);
        if (r.ok() || absl::IsAlreadyExists(r.status())) {
          ++created;
        } else if (failed++ < 5) {
          std::cerr << "create " << name << ": " << r.status() << "\n";
        }
      }
    });
  }
  for (auto& t : creators) t.join();
  create_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  double peak_rss = 0;
  auto deadline = t0 + std::chrono::seconds(timeout);
  auto last_print = Clock::now();
  while (Clock::now() < deadline) {
    peak_rss = std::max(peak_rss, ProcMiB(operator_pid, "VmRSS"));
    if (statuses.completed_seconds() >= 0 && deployments.completed_seconds() >= 0 &&
        services.completed_seconds() >= 0) {
      break;
    }
    if (Clock::now() - last_print > std::chrono::seconds(2)) {
      last_print = Clock::now();
      std::fprintf(stderr,
                   "  %6.1fs: %d created, %zu deployments, %zu services, %zu statuses, "
                   "operator RSS %.0f MiB\n",
                   std::chrono::duration<double>(Clock::now() - t0).count(), created.load(),
                   deployments.count(), services.count(), statuses.count(),
                   ProcMiB(operator_pid, "VmRSS"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  double hwm = ProcMiB(operator_pid, "VmHWM");
  double end_rss = ProcMiB(operator_pid, "VmRSS");
  bool ok = statuses.completed_seconds() >= 0 && deployments.completed_seconds() >= 0 &&
            services.completed_seconds() >= 0;
  auto secs = [](double s) {
    char b[32];
    if (s < 0) return std::string("timeout");
    std::snprintf(b, sizeof(b), "%.2f", s);
    return std::string(b);
  };
  std::printf("%-44s %s\n", "Functions created (of requested)",
              (std::to_string(created.load()) + " / " + std::to_string(count)).c_str());
  std::printf("%-44s %s\n", "create phase, s", secs(create_seconds).c_str());
  std::printf("%-44s %s\n", "all Deployments exist, s",
              secs(deployments.completed_seconds()).c_str());
  std::printf("%-44s %s\n", "all Services exist, s", secs(services.completed_seconds()).c_str());
  std::printf("%-44s %s\n", "all statuses written (total), s",
              secs(statuses.completed_seconds()).c_str());
  if (operator_pid > 0) {
    std::printf("%-44s %.0f\n", "operator peak RSS (VmHWM), MiB", std::max(hwm, peak_rss));
    std::printf("%-44s %.0f\n", "operator RSS at the end, MiB", end_rss);
  }
  for (Tracker* t : {&deployments, &services, &statuses}) t->Stop();
  // This client's own CPU (creates and three watches) competes for the same cores.
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%-44s %.1f\n", "bench client CPU, s",
              double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  return ok && failed == 0 ? 0 : 1;
}
