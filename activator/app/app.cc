#include "activator/app/app.h"

#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <sstream>
#include <thread>

#include "activator/app/static_source.h"
#include "activator/core/registry.h"
#include "activator/kube/kube_adapters.h"
#include "activator/net/prober.h"
#include "activator/net/proxy_server.h"
#include "autoscaler/activator/peers.h"
#include "autoscaler/activator/registry_adapter.h"
#include "autoscaler/service/activator_scaler_server.h"
#include "common/base/log.h"
#include "common/http/admin_server.h"
#include "common/kube/beast_transport.h"
#include "common/kube/rest_client.h"
#include "common/metrics/metrics.h"

namespace kfaas::activator {

namespace po = boost::program_options;
using Json = nlohmann::json;

absl::StatusOr<AppOptions> ParseFlags(int argc, char** argv, std::string* help) {
  AppOptions o;
  po::options_description d(
      "kfaas-activator: the HTTP data path of kfaas. Routes requests to functions by Host\n"
      "(<name>.<namespace>.<domain> or spec.hosts) and by path /fn/<namespace>/<name>/...,\n"
      "holds them while a function scales from zero, and scales idle functions to zero.\n\n"
      "Flags");
  // clang-format off
  d.add_options()
    ("help,h", "print this help")
    ("address", po::value(&o.address)->default_value(o.address), "listen address")
    ("port", po::value(&o.port)->default_value(o.port), "traffic port")
    ("admin-port", po::value(&o.admin_port)->default_value(o.admin_port),
     "admin port: /metrics, /healthz, /readyz, /debug/functions")
    ("grpc-port", po::value(&o.grpc_port)->default_value(o.grpc_port),
     "gRPC port of the KEDA external scaler and of the stats stream the operator's autoscaler "
     "reads (0: a free port, -1: off)")
    ("peers", po::value(&o.peers)->default_value(""),
     "the other activators' gRPC host:port,... so KEDA's answers cover every replica (a name "
     "resolving to several addresses, e.g. a headless Service, expands; this one is left out)")
    ("kubeconfig", po::value(&o.kubeconfig)->default_value(""),
     "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    ("context", po::value(&o.context)->default_value(""), "kubeconfig context")
    ("kube-transport", po::value(&o.kube_transport)->default_value(o.kube_transport),
     "HTTP client for the API server's watches and status reports: beast (Boost.Beast) or "
     "cpprest (cpprestsdk); the scale writes and the pod watch use Beast either way")
    ("namespace", po::value(&o.ns)->default_value(""), "namespace to watch (default: all)")
    ("watch-pods", po::value(&o.watch_pods)->default_value(o.watch_pods),
     "watch the functions' Pods (label kfaas.dev/function) to probe a starting instance as soon "
     "as its address is known, before its EndpointSlice arrives (needs pods list/watch; false: "
     "EndpointSlices only)")
    ("domain", po::value(&o.domain)->default_value(o.domain), "domain of function hosts")
    ("max-concurrency", po::value(&o.max_concurrency)->default_value(o.max_concurrency),
     "cluster-wide requests in flight; 429 above")
    ("max-body-bytes", po::value(&o.max_body_bytes)->default_value(o.max_body_bytes),
     "largest request body; 413 above")
    ("max-header-bytes", po::value(&o.max_header_bytes)->default_value(o.max_header_bytes),
     "largest request header; 431 above")
    ("max-buffered-per-function",
     po::value(&o.max_buffered_per_function)->default_value(o.max_buffered_per_function),
     "requests held per function (cold start or full instances); 503 above")
    ("max-buffered", po::value(&o.max_buffered_total)->default_value(o.max_buffered_total),
     "requests held overall; 503 above")
    ("cold-start-timeout", po::value(&o.cold_start_timeout_s)->default_value(o.cold_start_timeout_s),
     "seconds a request waits for a function to start (never beyond its timeoutSeconds); 504")
    ("header-timeout", po::value(&o.header_timeout_s)->default_value(o.header_timeout_s),
     "seconds to receive a request header, keep-alive idle included; 408")
    ("drain-timeout", po::value(&o.drain_timeout_s)->default_value(o.drain_timeout_s),
     "seconds in-flight requests may finish after SIGTERM")
    ("threads", po::value(&o.threads)->default_value(o.threads), "io threads (0: one per core)")
    ("log-level", po::value(&o.log_level)->default_value(o.log_level), "debug, info, warning, error")
    ("static-functions", po::value(&o.static_file)->default_value(""),
     "run without a cluster: Functions and EndpointSlices from this YAML/JSON file");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, d), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (vm.count("help")) {
    std::ostringstream os;
    os << d;
    *help = os.str();
    return absl::NotFoundError("help");
  }
  if (!log::SetLevelFromString(o.log_level)) {
    return absl::InvalidArgumentError("--log-level must be debug, info, warning or error, not \"" +
                                      o.log_level + "\"");
  }
  if (o.grpc_port < -1 || o.grpc_port > 65535) {
    return absl::InvalidArgumentError("--grpc-port must be a port, 0 (a free one) or -1 (off)");
  }
  if (o.max_concurrency < 1) return absl::InvalidArgumentError("--max-concurrency must be >= 1");
  if (o.cold_start_timeout_s <= 0) {
    return absl::InvalidArgumentError("--cold-start-timeout must be > 0");
  }
  return o;
}

namespace {
Duration Secs(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}
}  // namespace

int Run(const AppOptions& o) {
  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  metrics::Registry registry;
  ActivatorMetrics am(registry);
  GlobalCounters global;
  net::AsioProber prober;
  AsyncWorker worker;        // cold-start status reports
  AsyncWorker scale_worker;  // /scale writes only: never queued behind other writes

  std::shared_ptr<kube::Client> client;
  std::unique_ptr<UpdateSource> source;
  std::unique_ptr<Scaler> scaler;
  std::unique_ptr<ColdStartReporter> reporter;
  std::shared_ptr<kube::BeastTransport> scale_transport;  // kept open (re-opened) by the ticker
  if (!o.static_file.empty()) {
    auto fs = std::make_unique<FileUpdateSource>(o.static_file);
    if (auto st = fs->Load(); !st.ok()) {
      KFAAS_LOG(ERROR) << st.message();
      return 1;
    }
    source = std::move(fs);
    scaler = std::make_unique<LogScaler>();
    KFAAS_LOG(INFO) << "running without a cluster: functions from " << o.static_file;
  } else {
    kube::ConfigLoadOptions lo;
    lo.kubeconfig = o.kubeconfig;
    lo.context = o.context;
    if (o.kube_transport != "beast" && o.kube_transport != "cpprest") {
      KFAAS_LOG(ERROR) << "--kube-transport must be beast or cpprest, not \"" << o.kube_transport
                       << "\"";
      return 2;
    }
    auto c = kube::RestClient::FromOptions(lo, [&o](kube::RestConfig& rc) {
      rc.user_agent = "kfaas-activator";
      rc.transport = o.kube_transport;
      rc.qps = 200;
      rc.burst = 400;
    });
    if (!c.ok()) {
      KFAAS_LOG(ERROR) << "cannot reach Kubernetes: " << c.status().message()
                       << " (pass --kubeconfig, or --static-functions to run without a cluster)";
      return 1;
    }
    client = *c;
    // The scale write starts every cold start: its own client, on one connection to the API
    // server opened in advance and used synchronously by the scale writer's thread (no I/O pool
    // hops). The pod watch (a starting instance's address) also reads its stream directly on the
    // informer's thread, on a transport of its own.
    const kube::RestConfig& rc = (*c)->config();
    auto beast_client = [&rc](std::shared_ptr<kube::BeastTransport>* transport)
        -> absl::StatusOr<std::shared_ptr<kube::Client>> {
      auto bt = kube::BeastTransport::New(kube::TransportConfigFor(rc));
      if (!bt.ok()) return bt.status();
      auto sc = kube::RestClient::New(rc, *bt);
      if (!sc.ok()) return sc.status();
      if (transport) *transport = *bt;
      return std::shared_ptr<kube::Client>(*sc);
    };
    std::shared_ptr<kube::Client> scale_client = client, pods_client = client;
    if (auto sc = beast_client(&scale_transport); sc.ok()) {
      scale_client = *sc;
      scale_worker.Post([t = scale_transport] {
        if (auto st = t->Warm(); !st.ok()) {
          KFAAS_LOG(WARNING) << "opening the scale writer's connection: " << st.message()
                             << " (retried on the first write)";
        }
      });
    } else {
      KFAAS_LOG(WARNING) << "scale writes use the shared client: " << sc.status().message();
    }
    if (auto pc = beast_client(nullptr); pc.ok()) pods_client = *pc;
    auto ks = std::make_unique<KubeUpdateSource>(client, o.ns, o.watch_pods, pods_client);
    scaler = std::make_unique<KubeScaler>(scale_client, ks->deployments(), &scale_worker);
    reporter = std::make_unique<KubeColdStartReporter>(client, &worker);
    source = std::move(ks);
  }

  CoreDeps deps;
  deps.clock = &RealClock::Get();
  deps.scaler = scaler.get();
  deps.reporter = reporter.get();
  deps.prober = &prober;
  deps.metrics = &am;
  deps.global = &global;
  deps.options.max_concurrency = o.max_concurrency;
  deps.options.max_buffered_per_function = o.max_buffered_per_function;
  deps.options.max_buffered_total = o.max_buffered_total;
  deps.options.cold_start_timeout = Secs(o.cold_start_timeout_s);
  deps.options.domain = o.domain;
  Registry reg(deps);

  auto stats_gauge = [&reg](auto field) {
    return [&reg, field] {
      std::vector<metrics::Sample> out;
      for (const auto& s : reg.Stats()) {
        out.push_back({{s.ns, s.name}, static_cast<double>(field(s))});
      }
      return out;
    };
  };
  registry.AddCallback("kfaas_activator_in_flight_requests",
                       "Requests forwarded to an instance and not yet answered.",
                       metrics::Type::kGauge, {"namespace", "function"},
                       stats_gauge([](const FunctionStats& s) { return s.in_flight; }));
  registry.AddCallback("kfaas_activator_queued_requests",
                       "Requests held waiting for an instance (cold start or full instances).",
                       metrics::Type::kGauge, {"namespace", "function"},
                       stats_gauge([](const FunctionStats& s) { return s.queued; }));
  registry.AddCallback("kfaas_activator_ready_instances", "Instances the activator forwards to.",
                       metrics::Type::kGauge, {"namespace", "function"},
                       stats_gauge([](const FunctionStats& s) { return s.ready_instances; }));

  net::ProxyOptions po;
  po.address = o.address;
  po.port = static_cast<uint16_t>(o.port);
  po.threads = o.threads;
  po.max_body_bytes = static_cast<uint64_t>(o.max_body_bytes);
  po.max_header_bytes = static_cast<uint32_t>(o.max_header_bytes);
  po.header_timeout = Secs(o.header_timeout_s);
  net::ProxyServer server(&reg, po);

  http::AdminServer admin(o.address, static_cast<uint16_t>(o.admin_port));
  admin.HandleStandard(registry, [&] { return server.ready() && source->HasSynced(); });
  admin.Handle("/debug/functions", [&reg](const http::AdminRequest&) {
    Json out = Json::array();
    for (const auto& s : reg.Stats()) {
      out.push_back({{"namespace", s.ns},
                     {"name", s.name},
                     {"inFlight", s.in_flight},
                     {"queued", s.queued},
                     {"arrivals", s.arrivals},
                     {"completions", s.completions},
                     {"readyInstances", s.ready_instances},
                     {"instances", s.instances},
                     {"activating", s.activating}});
    }
    return http::AdminResponse{200, "application/json", out.dump(2) + "\n", {}};
  });
  if (auto st = admin.Start(); !st.ok()) {
    KFAAS_LOG(ERROR) << st.message() << " (pick another with --admin-port)";
    return 1;
  }
  source->Start(&reg);
  if (auto st = server.Start(); !st.ok()) {
    KFAAS_LOG(ERROR) << st.message();
    return 1;
  }
  // KEDA's external scaler and the autoscaler's stats stream, over the same Registry.
  autoscaler::RegistryStatsSource scaler_stats(reg);
  autoscaler::RegistryFunctionInfo scaler_functions(reg);
  std::unique_ptr<autoscaler::ResolvingPeers> peers;
  std::unique_ptr<autoscaler::ActivatorScalerServer> grpc_server;
  if (o.grpc_port >= 0) {
    if (!o.peers.empty()) {
      peers = std::make_unique<autoscaler::ResolvingPeers>(autoscaler::SplitAddresses(o.peers),
                                                           o.grpc_port);
    }
    // Names this activator in its stats reports (the operator sums per activator).
    std::string id;
    if (const char* pod = std::getenv("POD_NAME"); pod && *pod) {
      id = pod;
    } else {
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      id = std::string(host) + "/" + std::to_string(getpid());
    }
    grpc_server = std::make_unique<autoscaler::ActivatorScalerServer>(
        autoscaler::ActivatorScalerDeps{.stats = &scaler_stats,
                                        .functions = &scaler_functions,
                                        .peers = peers.get(),
                                        .clock = &RealClock::Get(),
                                        .registry = &registry},
        autoscaler::ActivatorScalerOptions{
            .address =
                (o.address.find(':') != std::string::npos ? "[" + o.address + "]" : o.address) +
                ":" + std::to_string(o.grpc_port),
            .activator_id = id});
    if (auto st = grpc_server->Start(); !st.ok()) {
      KFAAS_LOG(ERROR) << st.message();
      return 1;
    }
    if (peers) peers->SetOwnPort(grpc_server->port());
  } else {
    KFAAS_LOG(INFO) << "gRPC off (--grpc-port=-1): no KEDA external scaler, no stats for the "
                       "operator's autoscaler";
  }
  KFAAS_LOG(INFO) << "kfaas-activator serving on " << o.address << ":" << server.port() << " ("
                  << server.threads() << " io threads), admin on :" << admin.port() << ", domain "
                  << o.domain << ", max concurrency " << o.max_concurrency
                  << (grpc_server ? ", gRPC on :" + std::to_string(grpc_server->port()) : "");

  // Scale-to-zero decisions and activation retries, once a second.
  std::mutex tick_mu;
  std::condition_variable tick_cv;
  bool stop_ticks = false;
  std::thread ticker([&] {
    std::unique_lock<std::mutex> l(tick_mu);
    int64_t ticks = 0;
    while (!stop_ticks) {
      RealClock::Get().WaitUntil(tick_cv, l, RealClock::Get().Now() + std::chrono::seconds(1));
      if (stop_ticks) break;
      l.unlock();
      reg.Tick();
      // Re-open the scale writer's connection if the API server closed it (idle timeout), so
      // the next cold start does not pay for a TCP and TLS handshake.
      if (scale_transport && ++ticks % 5 == 0) {
        scale_worker.Post([t = scale_transport] { (void)t->Warm(); });
      }
      l.lock();
    }
  });

  int sig = 0;
  sigwait(&sigs, &sig);
  KFAAS_LOG(INFO) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": draining";
  bool clean = server.Drain(Secs(o.drain_timeout_s));
  {
    std::lock_guard<std::mutex> l(tick_mu);
    stop_ticks = true;
  }
  tick_cv.notify_all();
  ticker.join();
  if (grpc_server) grpc_server->Stop();
  // The worker's queued API writes call back into the registry and read the informers: finish
  // them while both exist (the worker is declared first, so it would be destroyed last).
  scale_worker.Shutdown();
  worker.Shutdown();
  source->Stop();
  admin.Stop();
  return clean ? 0 : 1;
}

}  // namespace kfaas::activator
