// Bearer-token sources for RestClient: a static token, a token file re-read periodically
// (projected service-account tokens rotate), and client.authentication.k8s.io exec plugins.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/kube/config.h"

namespace kfaas::kube {

// Thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The current bearer token. May block (an exec plugin runs a process).
  virtual absl::StatusOr<std::string> Token() = 0;
  // The server answered 401 to a request carrying `token`. Returns true when a fresh token may
  // be obtained (the next Token() re-reads the file or re-runs the plugin), so a retry can help.
  virtual bool Invalidate(const std::string& token) = 0;
  // For messages: "token", "tokenFile /x", "exec plugin /usr/bin/x".
  virtual std::string Describe() const = 0;
};

std::unique_ptr<TokenSource> StaticTokenSource(std::string token);
std::unique_ptr<TokenSource> FileTokenSource(std::string path, Clock& clock,
                                             Duration refresh = std::chrono::minutes(1));

// What an exec plugin is told about the cluster (with provideClusterInfo).
struct ExecClusterInfo {
  std::string server;
  std::string ca_pem;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
};

// The decoded ExecCredential status.
struct ExecCredential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  std::optional<WallTime> expiration;
};

// Runs the plugin once: KUBERNETES_EXEC_INFO and the configured env are added to this process'
// environment; stdout must be an ExecCredential of the configured apiVersion. Errors name the
// plugin, its exit status and the end of its stderr. The plugin is killed after `timeout`.
absl::StatusOr<ExecCredential> RunExecPlugin(const ExecConfig& exec, const ExecClusterInfo& cluster,
                                             Duration timeout = std::chrono::seconds(60));

// Caches the plugin's token until its expirationTimestamp (forever when it has none) and
// re-runs the plugin after a 401.
std::unique_ptr<TokenSource> ExecTokenSource(ExecConfig exec, ExecClusterInfo cluster,
                                             Clock& clock);

// The token source a RestConfig asks for: exec, else bearer_token_file, else bearer_token;
// nullptr when it has none.
std::unique_ptr<TokenSource> MakeTokenSource(const RestConfig& config, Clock& clock);

}  // namespace kfaas::kube
