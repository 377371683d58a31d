// The local API server's HTTP front end (Boost.Beast): HTTPS with bearer-token and
// client-certificate authentication, and an optional plain-HTTP port without authentication.
// Maps the Kubernetes REST protocol onto Api (api.h); streams watches and pod logs.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "local/apiserver/local_client.h"

namespace kfaas::local {

struct HttpConfig {
  std::string bind_address = "127.0.0.1";
  int secure_port = 0;     // 0: a free port; -1: no HTTPS
  int insecure_port = -1;  // 0: a free port; -1: no plain HTTP
  int threads = 2;
  size_t max_body_bytes = 3 * 1024 * 1024;  // 413 above
  size_t max_header_bytes = 64 * 1024;      // 431 above
  // From a request's first byte to its last header byte; a slower client is disconnected
  // (slowloris). kube-apiserver's ReadHeaderTimeout is 32s too.
  std::chrono::milliseconds header_timeout{32000};
  std::string cert_pem, key_pem, ca_pem;      // serving certificate and the client CA
  std::map<std::string, std::string> tokens;  // bearer token -> user
  std::string admin_user;                     // may use /kfaas/faults over HTTPS
  std::chrono::seconds default_watch_timeout{1800};
  // A watch that wrote less than this ago waits for the next shared flush tick, so events
  // that arrive in a burst go out in one write per watcher (0: write every batch at once).
  std::chrono::milliseconds watch_batch_interval{5};
};

class HttpServer {
 public:
  HttpServer(std::shared_ptr<ServerCore> core, HttpConfig config);
  ~HttpServer();  // Stop()

  absl::Status Start();  // binds both ports and starts the io threads
  void Stop();           // closes listeners and every connection, joins the threads
  uint16_t secure_port() const;
  uint16_t insecure_port() const;

  class Impl;  // public so the connection templates in the .cc can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kfaas::local
