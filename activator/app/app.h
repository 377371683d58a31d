// The kfaas-activator process: flags, wiring, signals. main.cc only calls these.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace kfaas::activator {

struct AppOptions {
  std::string address = "0.0.0.0";
  int port = 8080;
  int admin_port = 9090;
  // KEDA ExternalScaler + kfaas.v1.Stats (the operator's autoscaler). 0 = a free port, -1 = off.
  int grpc_port = 9095;
  std::string peers;  // the other activators' gRPC host:port,... (a headless name expands)
  std::string kubeconfig;
  std::string context;
  std::string kube_transport = "beast";  // the API client's HTTP: "beast" or "cpprest"
  std::string ns;                        // "" = all namespaces
  bool watch_pods = true;  // probe starting instances from their Pods, before their slices
  std::string domain = "kfaas.local";
  int64_t max_concurrency = 1000;
  int64_t max_body_bytes = 64ll << 20;
  int64_t max_header_bytes = 32ll << 10;
  int64_t max_buffered_per_function = 10000;
  int64_t max_buffered_total = 50000;
  double cold_start_timeout_s = 60;
  double header_timeout_s = 30;
  double drain_timeout_s = 30;
  int threads = 0;
  std::string log_level = "info";
  std::string static_file;  // run without a cluster
};

// Parses the command line. Returns nullopt-like NotFound status "help" when --help was given
// (the text is in *help).
absl::StatusOr<AppOptions> ParseFlags(int argc, char** argv, std::string* help);

// Runs until SIGTERM/SIGINT, then drains. Returns the process exit code.
int Run(const AppOptions& opts);

}  // namespace kfaas::activator
