// kfaas-node-bench: cold starts on kfaas-local's node, phase by phase.
//
// Runs the local API server and the node in-process, creates a Deployment (replicas 0) and a
// Service for an example function, then N times: scale 0 -> 1 (a /scale patch, as the
// activator does), wait for the pod to be Ready and its EndpointSlice ready (both observed
// through watches), scale back to 0 and wait for the pod to be gone. Prints p50/p99 per phase.
//
//   kfaas-node-bench [--runs 50] [--function hello|python] [--http] [--hello PATH]
//
// --http: the scale write and the watches go through the HTTPS API (RestClient), as the
// activator's would; default: the in-process client (the node's own latency only).
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/program_options.hpp>

#include "common/base/log.h"
#include "common/kube/rest_client.h"
#include "local/apiserver/api_server.h"
#include "local/node/node.h"

namespace po = boost::program_options;
using kfaas::SteadyTime;
using kfaas::kube::Json;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Observed {
  std::mutex mu;
  std::condition_variable cv;
  int run = -1;
  SteadyTime pod_ready{}, slice_seen{}, slice_ready{};
  int pods = 0, slices = 0;  // live objects
  std::set<std::string> pod_names, slice_names;
  std::vector<kfaas::node::PodTiming> timings;
};

bool PodReady(const Json& pod) {
  for (const auto& c : pod.value("status", Json::object()).value("conditions", Json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

bool SliceReady(const Json& s) {
  auto eps = s.value("endpoints", Json::array());
  return !eps.empty() && eps[0].value("conditions", Json::object()).value("ready", false);
}

void WatchLoop(std::shared_ptr<kfaas::kube::Client> client, const kfaas::kube::Resource& r,
               const std::string& selector, Observed* obs, bool is_pods, std::atomic<bool>* stop,
               std::vector<std::unique_ptr<kfaas::kube::WatchStream>>* streams, std::mutex* smu) {
  std::string rv;
  while (!stop->load()) {
    kfaas::kube::WatchOptions wo;
    wo.label_selector = selector;
    wo.resource_version = rv;
    auto w = client->Watch(r, "default", wo);
    if (!w.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    kfaas::kube::WatchStream* stream = w->get();
    {
      std::lock_guard<std::mutex> l(*smu);
      streams->push_back(std::move(*w));
    }
    kfaas::kube::WatchEvent ev;
    while (stream->Next(&ev)) {
      SteadyTime now = Clock::now();
      if (ev.type == kfaas::kube::WatchEvent::Type::kError) break;
      rv = ev.object.value("metadata", Json::object()).value("resourceVersion", rv);
      if (ev.type == kfaas::kube::WatchEvent::Type::kBookmark) continue;
      std::string name = ev.object["metadata"].value("name", "");
      std::lock_guard<std::mutex> l(obs->mu);
      auto& names = is_pods ? obs->pod_names : obs->slice_names;
      if (ev.type == kfaas::kube::WatchEvent::Type::kDeleted) {
        names.erase(name);
      } else {
        names.insert(name);
        if (is_pods && PodReady(ev.object) && obs->pod_ready == SteadyTime{}) obs->pod_ready = now;
        if (!is_pods && obs->slice_seen == SteadyTime{}) obs->slice_seen = now;
        if (!is_pods && SliceReady(ev.object) && obs->slice_ready == SteadyTime{}) {
          obs->slice_ready = now;
        }
      }
      obs->pods = static_cast<int>(obs->pod_names.size());
      obs->slices = static_cast<int>(obs->slice_names.size());
      obs->cv.notify_all();
    }
  }
}

struct Stat {
  std::string name;
  std::vector<double> v;
};

void PrintTable(const std::vector<Stat>& stats, const std::string& title) {
  printf("\n%s\n", title.c_str());
  printf("%-48s %8s %8s %8s %8s\n", "phase (milliseconds)", "p50", "p99", "min", "max");
  for (auto s : stats) {
    if (s.v.empty()) continue;
    std::sort(s.v.begin(), s.v.end());
    size_t n = s.v.size();
    auto at = [&](double q) {
      size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(n))) - 1;
      return s.v[std::min(i, n - 1)];
    };
    printf("%-48s %8.2f %8.2f %8.2f %8.2f\n", s.name.c_str(), at(0.5), at(0.99), s.v.front(),
           s.v.back());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 50;
  std::string function = "hello", hello_path, source_dir;
  bool http = false;
  int probe_interval_us = 1000;
  int publish_delay_us = 0;
  po::options_description desc("kfaas-node-bench: cold starts on kfaas-local's node\n\nFlags");
  desc.add_options()("help,h", "help")("runs", po::value(&runs)->default_value(runs),
                                       "cold starts to measure")(
      "function", po::value(&function)->default_value(function), "hello (C++) or python")(
      "http", po::bool_switch(&http), "scale and watch over HTTPS instead of in-process")(
      "hello", po::value(&hello_path), "path of hello-function")(
      "probe-interval-us", po::value(&probe_interval_us)->default_value(probe_interval_us),
      "the node's readiness probe interval during start-up")(
      "publish-delay-us", po::value(&publish_delay_us)->default_value(publish_delay_us),
      "the node publishes a started, not yet ready pod after this long")(
      "source-dir", po::value(&source_dir), "the kfaas source tree (for examples/python)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "kfaas-node-bench: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  kfaas::log::SetLevelFromString("warning");
  std::string command;
  if (function == "hello") {
    command = hello_path;
  } else if (function == "python") {
    command = source_dir + "/examples/python/main.py";
  } else {
    std::cerr << "kfaas-node-bench: --function must be hello or python\n";
    return 2;
  }
  if (access(command.c_str(), X_OK) != 0) {
    std::cerr << "kfaas-node-bench: " << command << " is not executable (--hello / --source-dir)\n";
    return 2;
  }

  char tmpl[] = "/tmp/kfaas-node-bench.XXXXXX";
  std::string home = mkdtemp(tmpl);
  signal(SIGPIPE, SIG_IGN);
  kfaas::local::ApiServer::Options so;
  so.home = home;
  so.secure_port = 0;
  kfaas::local::ApiServer server(so);
  if (auto s = server.Start(); !s.ok()) {
    std::cerr << "kfaas-node-bench: API server: " << s.message() << "\n";
    return 1;
  }
  Observed obs;
  kfaas::node::NodeOptions no;
  no.agent.logs_dir = server.log_dir();
  no.agent.probe.fast_interval = std::chrono::microseconds(probe_interval_us);
  no.agent.running_publish_delay = std::chrono::microseconds(publish_delay_us);
  no.agent.on_ready = [&obs](const kfaas::node::PodTiming& t) {
    std::lock_guard<std::mutex> l(obs.mu);
    obs.timings.push_back(t);
    obs.cv.notify_all();
  };
  kfaas::node::Node node([&](const std::string& ua) { return server.LocalClient(ua); }, no);
  if (auto s = node.Start(); !s.ok()) {
    std::cerr << "kfaas-node-bench: node: " << s.message() << "\n";
    return 1;
  }

  std::shared_ptr<kfaas::kube::Client> client;
  if (http) {
    kfaas::kube::ConfigLoadOptions lo;
    lo.kubeconfig = server.kubeconfig_path();
    auto rc =
        kfaas::kube::RestClient::FromOptions(lo, [](kfaas::kube::RestConfig& c) { c.qps = -1; });
    if (!rc.ok()) {
      std::cerr << "kfaas-node-bench: REST client: " << rc.status().message() << "\n";
      return 1;
    }
    client = *rc;
  } else {
    client = server.LocalClient("kfaas-node-bench");
  }

  const std::string name = "bench-" + function;
  Json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", "default"}}},
      {"spec",
       {{"replicas", 0},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"terminationGracePeriodSeconds", 5},
            {"containers",
             Json::array({{{"name", "function"},
                           {"image", "example.com/" + name},
                           {"command", Json::array({command})},
                           {"ports", Json::array({{{"name", "http"}, {"containerPort", 8080}}})},
                           {"readinessProbe",
                            {{"httpGet", {{"path", "/healthz"}, {"port", "http"}}},
                             {"periodSeconds", 1}}}}})}}}}}}}};
  Json service = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", name}, {"namespace", "default"}}},
      {"spec",
       {{"selector", {{"app", name}}},
        {"ports", Json::array({{{"name", "http"}, {"port", 80}, {"targetPort", "http"}}})}}}};
  auto local = server.LocalClient("kfaas-node-bench-setup");
  if (auto r = local->Create(kfaas::kube::resources::kDeployments, "default", deployment);
      !r.ok()) {
    std::cerr << "kfaas-node-bench: " << r.status().message() << "\n";
    return 1;
  }
  if (auto r = local->Create(kfaas::kube::resources::kServices, "default", service); !r.ok()) {
    std::cerr << "kfaas-node-bench: " << r.status().message() << "\n";
    return 1;
  }

  std::atomic<bool> stop{false};
  std::mutex smu;
  std::vector<std::unique_ptr<kfaas::kube::WatchStream>> streams;
  std::thread pod_watch(WatchLoop, client, kfaas::kube::resources::kPods, "app=" + name, &obs, true,
                        &stop, &streams, &smu);
  std::thread slice_watch(WatchLoop, client, kfaas::kube::resources::kEndpointSlices,
                          "kubernetes.io/service-name=" + name, &obs, false, &stop, &streams, &smu);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // watches established

  Stat to_exec{"scale write -> process exec"},
      exec_ready{"process exec -> first probe OK (function)"},
      to_pod{"scale write -> Pod Ready (watch event)"},
      to_slice_seen{"scale write -> EndpointSlice published"},
      to_slice_ready{"scale write -> EndpointSlice ready (watch event)"};
  auto scale = [&](int replicas) {
    return client->Patch(kfaas::kube::resources::kDeployments, "default", name,
                         kfaas::kube::PatchType::kMerge, {{"spec", {{"replicas", replicas}}}},
                         "scale");
  };
  int failures = 0;
  for (int i = 0; i < runs; ++i) {
    {
      std::lock_guard<std::mutex> l(obs.mu);
      obs.pod_ready = obs.slice_seen = obs.slice_ready = SteadyTime{};
      obs.timings.clear();
    }
    SteadyTime t0 = Clock::now();
    if (auto r = scale(1); !r.ok()) {
      std::cerr << "scale to 1: " << r.status().message() << "\n";
      return 1;
    }
    std::unique_lock<std::mutex> l(obs.mu);
    bool ok = obs.cv.wait_for(l, std::chrono::seconds(20), [&] {
      return obs.pod_ready != SteadyTime{} && obs.slice_ready != SteadyTime{} &&
             !obs.timings.empty();
    });
    if (!ok) {
      ++failures;
      std::cerr << "run " << i << ": no ready pod/slice within 20s\n";
    } else {
      const auto& t = obs.timings.front();
      to_exec.v.push_back(Ms(t.spawn_begin - t0));
      exec_ready.v.push_back(Ms(t.ready - t.spawn_begin));
      to_pod.v.push_back(Ms(obs.pod_ready - t0));
      to_slice_seen.v.push_back(Ms(obs.slice_seen - t0));
      to_slice_ready.v.push_back(Ms(obs.slice_ready - t0));
    }
    l.unlock();
    if (auto r = scale(0); !r.ok()) {
      std::cerr << "scale to 0: " << r.status().message() << "\n";
      return 1;
    }
    l.lock();
    obs.cv.wait_for(l, std::chrono::seconds(20), [&] { return obs.pods == 0 && obs.slices == 0; });
    l.unlock();
    // ...and the process itself is gone (the node forgets a pod once its process is reaped).
    for (int w = 0; w < 2000 && !node.agent().Pods().empty(); ++w) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  PrintTable({to_exec, exec_ready, to_pod, to_slice_seen, to_slice_ready},
             "cold start on the kfaas-local node: " + function + ", " +
                 std::to_string(runs - failures) + " runs, " +
                 (http ? "scale + watch over HTTPS (RestClient)" : "in-process client"));
  if (failures) printf("(%d runs failed)\n", failures);

  stop = true;
  {
    std::lock_guard<std::mutex> l(smu);
    for (auto& s : streams) s->Stop();
  }
  // A watch opened after the Stop() calls above ends at server shutdown.
  node.Stop();
  server.Stop();
  {
    std::lock_guard<std::mutex> l(smu);
    for (auto& s : streams) s->Stop();
  }
  pod_watch.join();
  slice_watch.join();
  std::string rm = "rm -rf '" + home + "'";
  int ignored = system(rm.c_str());
  (void)ignored;
  return failures ? 1 : 0;
}
