// kfaas-operator: reconciles kfaas.dev/v1alpha1 Functions into Deployments and Services.
// Flags and signals only; everything else is in operator/app.h.
#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include <boost/program_options.hpp>

#include "common/base/log.h"
#include "operator/app.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  kfaas::op::OperatorConfig c;
  std::string log_level = "info";
  int lease_duration = 15, renew_deadline = 10, retry_period = 2;
  int stable_window = 60, scale_down_delay = 30;
  int scaling_status_delay_ms = 100;
  po::options_description desc(
      "kfaas-operator: turns each kfaas.dev Function into a Deployment and a Service it owns,\n"
      "and reports in the Function's status whether it is ready and where it is reached.\n\n"
      "Usage: kfaas-operator [flags]\n\nFlags");
  // clang-format off
  desc.add_options()
      ("help,h", "print this help and exit")
      ("kubeconfig", po::value(&c.kubeconfig),
       "kubeconfig file (default: $KUBECONFIG, in-cluster config, ~/.kube/config)")
      ("context", po::value(&c.context), "kubeconfig context (default: current-context)")
      ("namespace", po::value(&c.watch_namespace),
       "namespace whose Functions are reconciled (default: all namespaces)")
      ("domain", po::value(&c.domain)->default_value(c.domain),
       "functions are reached at http://<name>.<namespace>.<domain> (status.url)")
      ("workers", po::value(&c.workers)->default_value(c.workers), "concurrent reconciles")
      ("leader-elect", po::value(&c.leader_elect)->default_value(true)->implicit_value(true),
       "elect a leader on a coordination.k8s.io Lease so several replicas can run; only the "
       "leader reconciles (true|false)")
      ("lease-namespace", po::value(&c.lease_namespace),
       "namespace of the Lease (default: $POD_NAMESPACE, else the kubeconfig's namespace)")
      ("lease-name", po::value(&c.lease_name)->default_value(c.lease_name), "name of the Lease")
      ("lease-duration-seconds", po::value(&lease_duration)->default_value(lease_duration),
       "how long a Lease is valid without renewal (a standby takes over after it)")
      ("renew-deadline-seconds", po::value(&renew_deadline)->default_value(renew_deadline),
       "a leader that cannot renew within this long gives up (and exits)")
      ("retry-period-seconds", po::value(&retry_period)->default_value(retry_period),
       "interval between attempts to acquire or renew the Lease")
      ("identity", po::value(&c.identity),
       "leader-election identity (default: $POD_NAME or the hostname, plus a random suffix)")
      ("admin-address", po::value(&c.admin_address)->default_value(c.admin_address),
       "address of the admin server")
      ("admin-port", po::value(&c.admin_port)->default_value(c.admin_port),
       "port of /healthz, /readyz and /metrics (0 picks a free port)")
      ("qps", po::value(&c.qps)->default_value(c.qps),
       "client-side rate limit of API requests per second (<= 0: off)")
      ("burst", po::value(&c.burst)->default_value(c.burst), "burst of API requests")
      ("kube-transport", po::value(&c.kube_transport)->default_value(c.kube_transport),
       "HTTP client for the API server: beast (Boost.Beast, synchronous on each worker's "
       "thread, pooled keep-alive connections) or cpprest (cpprestsdk)")
      ("local", po::bool_switch(&c.require_command),
       "the cluster is kfaas-local, whose node runs spec.command as a process: Functions "
       "without spec.command are reported Ready=False (MissingCommand)")
      ("activator-stats-address", po::value(&c.activator_stats_address),
       "host:port,... of the activators' gRPC ports, for the autoscaler loop (a name resolving "
       "to several addresses, e.g. a headless Service, reads every activator)")
      ("activator-service", po::value(&c.activator_service),
       "namespace/name of the activators' Service: the autoscaler reads every activator its "
       "EndpointSlices list (port \"grpc\"), in addition to --activator-stats-address")
      ("keda-scaler-address", po::value(&c.keda_scaler_address),
       "host:port KEDA's ScaledObjects point at, for Functions with spec.scale.autoscaler: keda "
       "(default: the first --activator-stats-address)")
      ("autoscaler-stable-window-seconds", po::value(&stable_window)->default_value(stable_window),
       "the autoscaler's averaging window (the panic window is 6 s)")
      ("autoscaler-scale-down-delay-seconds",
       po::value(&scale_down_delay)->default_value(scale_down_delay),
       "how long a lower load must hold before the autoscaler scales down")
      ("scaling-status-delay-ms",
       po::value(&scaling_status_delay_ms)->default_value(scaling_status_delay_ms),
       "a Function status change driven only by its Deployment's scaling (replicas, ready "
       "replicas) is written this long after it was first seen: one write per scale-up, after "
       "the cold start instead of during it (0: at once)")
      ("log-level", po::value(&log_level)->default_value(log_level),
       "debug, info, warning or error");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "kfaas-operator: " << e.what() << "\nRun kfaas-operator --help for the flags.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (!kfaas::log::SetLevelFromString(log_level)) {
    std::cerr << "kfaas-operator: --log-level must be debug, info, warning or error, not \""
              << log_level << "\"\n";
    return 2;
  }
  if (c.kube_transport != "beast" && c.kube_transport != "cpprest") {
    std::cerr << "kfaas-operator: --kube-transport must be beast or cpprest, not \""
              << c.kube_transport << "\"\n";
    return 2;
  }
  if (c.workers < 1) {
    std::cerr << "kfaas-operator: --workers must be >= 1\n";
    return 2;
  }
  if (c.admin_port < 0 || c.admin_port > 65535) {
    std::cerr << "kfaas-operator: --admin-port must be between 0 and 65535\n";
    return 2;
  }
  if (!(lease_duration > renew_deadline && renew_deadline * 10 > retry_period * 12 &&
        retry_period >= 1)) {
    std::cerr << "kfaas-operator: need --lease-duration-seconds > --renew-deadline-seconds > "
                 "1.2 x --retry-period-seconds >= 1\n";
    return 2;
  }
  if (stable_window < 6 || scale_down_delay < 0) {
    std::cerr << "kfaas-operator: need --autoscaler-stable-window-seconds >= 6 (the panic "
                 "window) and --autoscaler-scale-down-delay-seconds >= 0\n";
    return 2;
  }
  if (scaling_status_delay_ms < 0) {
    std::cerr << "kfaas-operator: --scaling-status-delay-ms must be >= 0\n";
    return 2;
  }
  c.scaling_status_delay = std::chrono::milliseconds(scaling_status_delay_ms);
  c.autoscaler_stable_window = std::chrono::seconds(stable_window);
  c.autoscaler_scale_down_delay = std::chrono::seconds(scale_down_delay);
  c.lease_duration = std::chrono::seconds(lease_duration);
  c.renew_deadline = std::chrono::seconds(renew_deadline);
  c.retry_period = std::chrono::seconds(retry_period);

  // SIGTERM/SIGINT are handled by a thread of ours; block them everywhere else.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::mutex mu;
  std::condition_variable cv;
  std::string stop_reason;
  int exit_code = 0;
  auto request_stop = [&](const std::string& reason, int code) {
    std::lock_guard<std::mutex> l(mu);
    if (!stop_reason.empty()) return;
    stop_reason = reason;
    exit_code = code;
    cv.notify_all();
  };
  std::thread([&signals, request_stop] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0) {
      request_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT", 0);
    }
  }).detach();

  kfaas::op::Operator op(c, [&](const std::string& why) { request_stop(why, 1); });
  if (auto s = op.Start(); !s.ok()) {
    KFAAS_LOG(ERROR) << "cannot start: " << std::string(s.message());
    return 1;
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return !stop_reason.empty(); });
  }
  KFAAS_LOG(INFO) << stop_reason << ": finishing reconciles in progress, releasing the Lease";
  op.Stop();
  return exit_code;
}
