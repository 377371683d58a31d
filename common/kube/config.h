// RestConfig: where the API server is and how to authenticate, loaded as client-go and
// controller-runtime load it.
//
// Precedence (controller-runtime's config.GetConfig):
//   1. the explicit path (--kubeconfig flag);
//   2. $KUBECONFIG, a ':'-separated list of files merged in order (the first file to define a
//      cluster, user or context name, or current-context, wins; missing files are skipped);
//   3. in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account directory), only when
//      $KUBECONFIG is unset;
//   4. $HOME/.kube/config.
// The context is --context, else current-context. Relative file paths in a kubeconfig are
// relative to the file that contains them. Errors name the file and the field:
//   kubeconfig /x/config: context "foo" not found (current-context)
//   kubeconfig /x/config: users[0].user.client-certificate: open /x/cert.pem: No such file...
//
// As client-go does, user credentials are not loaded when the server URL is plain http://.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/clock.h"

namespace kfaas::kube {

// users[].user.exec: a client.authentication.k8s.io ExecCredential plugin.
struct ExecConfig {
  std::string command;  // absolute, PATH-relative, or (with a '/') relative to the kubeconfig
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string api_version;       // client.authentication.k8s.io/v1 or /v1beta1
  std::string interactive_mode;  // Never | IfAvailable | Always ("" for v1beta1 = IfAvailable)
  std::string install_hint;
  bool provide_cluster_info = false;
  std::string origin;  // "kubeconfig /x/config: users[0].user.exec", for messages
};

struct RestConfig {
  // "https://host:port" (optionally with a path prefix). Required.
  std::string host;

  // TLS. PEM text, not file names (the loader reads the files).
  std::string ca_pem;  // empty: the system trust store
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string tls_server_name;  // overrides the name the server certificate is checked against
  bool insecure_skip_tls_verify = false;

  // Authentication, in precedence order: exec, bearer_token_file, bearer_token, basic.
  std::string bearer_token;
  std::string bearer_token_file;  // re-read every token_file_refresh (projected tokens rotate)
  Duration token_file_refresh = std::chrono::minutes(1);
  std::optional<ExecConfig> exec;
  std::string username;
  std::string password;

  // The namespace of the context (or the pod, in-cluster); "default" when unset.
  std::string default_namespace = "default";

  // Client behaviour.
  std::string user_agent = "kfaas";
  double qps = 50;  // client-side rate limit; <= 0 disables it
  int burst = 100;
  Duration timeout = std::chrono::seconds(30);  // per request (watches: inactivity)
  int max_retries = 5;                          // extra attempts for retryable failures
  // The HTTP transport (NewTransport in beast_transport.h): "cpprest" or "beast".
  std::string transport = "cpprest";
  Clock* clock = nullptr;  // nullptr: RealClock

  // Where this came from, for messages: "kubeconfig /x/config (context kfaas)", "in-cluster".
  std::string source;
};

// Looks up an environment variable; nullopt when unset.
using GetEnvFunc = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment.
std::optional<std::string> ProcessGetEnv(const std::string& name);

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ConfigLoadOptions {
  std::string kubeconfig;  // --kubeconfig
  std::string context;     // --context
  // Test seams.
  GetEnvFunc getenv;  // nullptr: the process environment
  std::string service_account_dir = kServiceAccountDir;
};

// The full precedence chain above.
absl::StatusOr<RestConfig> LoadConfig(const ConfigLoadOptions& opts = {});

// Merges the given kubeconfig files (first wins) and resolves `context` (or current-context).
// With `require_all`, a missing file is an error (the explicit --kubeconfig path); otherwise
// missing files are skipped, as in $KUBECONFIG.
absl::StatusOr<RestConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                          const std::string& context, bool require_all = true);
// Parses one kubeconfig from text; `path` names it in errors and anchors relative paths.
absl::StatusOr<RestConfig> ParseKubeconfig(std::string_view text, const std::string& path,
                                           const std::string& context = "");

// The in-cluster config; NotFound when not running in a pod (KUBERNETES_SERVICE_HOST/PORT
// unset). POD_NAMESPACE overrides the namespace file.
absl::StatusOr<RestConfig> InClusterConfig(const GetEnvFunc& getenv = nullptr,
                                           const std::string& dir = kServiceAccountDir);

}  // namespace kfaas::kube
