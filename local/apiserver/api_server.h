// ApiServer: kfaas-local's in-memory Kubernetes API server.
//
// Speaks the real REST protocol (what kubectl v1.32 sends and expects): discovery, OpenAPI v3
// for server-side field validation, tables, CRDs with structural schemas, list/watch with
// resourceVersion semantics, patch (merge, JSON, strategic, server-side apply), status and
// scale subresources, deletion with finalizers, garbage collection and namespace finalization.
//
//   ApiServer::Options o;
//   o.home = tmpdir;         // certificates, tokens, kubeconfig, apiserver.json, logs/
//   o.secure_port = 0;       // HTTPS on a free port
//   o.insecure_port = 0;     // plain HTTP on a free port (-1: off), no authentication
//   ApiServer server(o);
//   KFAAS_CHECK(server.Start().ok());
//   auto client = server.LocalClient("my-controller/v1");  // in-process kube::Client
//   ... kubectl --kubeconfig server.kubeconfig_path() ...
//   server.Stop();
//
// Files under home (created at Start): pki/{ca,apiserver}.{crt,key}, admin-token (0600),
// kubeconfig (0600; server, CA, admin token, context "kfaas-local", namespace default),
// apiserver.json ({"securePort","insecurePort","pid","kubeconfig","home"}).
//
// Fault hooks (tests): faults() / DropWatches() / CompactHistory(), or over HTTP (plain port,
// or HTTPS with the admin token):
//   GET  /kfaas/faults  -> {"counters":{"requests","writes","watchesOpened","eventsSent",
//                           "injectedFailures","watchesDropped"},"failWrites":[...],"latency":{}}
//   POST /kfaas/faults  {"dropWatches":true, "compact":true, "reset":true,
//                        "failWrites":{"count":N,"code":409|500|...,"resource":"deployments"
//                                      |"deployments/status","verb":"create|update|patch|delete|
//                                      deletecollection","userAgent":"substring","message":".."},
//                        "latency":{"ms":M,"resource":"pods","verb":"list"}}
// Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "local/apiserver/faults.h"
#include "local/apiserver/pki.h"

namespace kfaas::local {

struct ServerCore;
class HttpServer;
class Controllers;

class ApiServer {
 public:
  struct Options {
    std::string home;  // "" = ${KFAAS_HOME:-$HOME/.kfaas}
    std::string bind_address = "127.0.0.1";
    int secure_port = 6443;             // 0 = a free port; -1 = no HTTPS
    int insecure_port = -1;             // 0 = a free port; -1 = off
    std::vector<std::string> tls_sans;  // extra SANs for the serving certificate
    // Extra bearer tokens, one per line: token,user[,uid[,"group1,group2"]] (kube-apiserver's
    // --token-auth-file format).
    std::string token_file;
    std::string log_dir;               // pod logs; "" = <home>/logs
    size_t watch_history = 10000;      // events retained for watch resume
    size_t watch_queue_limit = 10000;  // per watcher; a slower watcher is closed
    std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
    int threads = 0;                   // HTTP io threads; 0 = max(2, cores)
    std::vector<std::string> preload;  // manifest files or directories created at start
    bool write_kubeconfig = true;
    size_t max_body_bytes = 3 * 1024 * 1024;
    // A request's header must arrive within this from its first byte (slowloris).
    std::chrono::milliseconds header_timeout{32000};
    size_t max_header_bytes = 64 * 1024;  // request line + headers; 431 above
    // A watch that wrote less than this ago waits for the next shared flush tick, so a burst
    // of events costs one write per watcher per interval (0: write every batch at once).
    std::chrono::milliseconds watch_batch_interval{5};
    Clock* clock = nullptr;  // object timestamps; default RealClock
  };

  explicit ApiServer(Options options);
  ~ApiServer();  // Stop()

  absl::Status Start();
  void Stop();

  uint16_t secure_port() const;
  uint16_t insecure_port() const;
  std::string secure_url() const;    // https://127.0.0.1:<port>
  std::string insecure_url() const;  // http://127.0.0.1:<port> ("" when off)
  const std::string& home() const { return home_; }
  std::string kubeconfig_path() const { return home_ + "/kubeconfig"; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& ca_cert_pem() const { return pki_.ca_cert_pem; }
  std::string ca_cert_path() const { return pki_.ca_cert_path; }
  std::string log_dir() const;

  // An in-process client with the HTTP API's semantics and no HTTP. Valid after Start(); once
  // the server stops, its calls fail with 503.
  std::shared_ptr<kube::Client> LocalClient(std::string user_agent);

  // A client certificate (CN=user, O=groups) signed by the server's CA.
  absl::StatusOr<ClientCert> IssueClientCertificate(const std::string& user,
                                                    const std::vector<std::string>& groups = {});
  // Writes a kubeconfig for this server: with `cert` a client-certificate user, else the admin
  // token.
  absl::Status WriteKubeconfig(const std::string& path, const ClientCert* cert = nullptr) const;

  // Creates the objects of a manifest stream (YAML or JSON, "---"-separated).
  absl::Status Apply(const std::string& manifests, const std::string& source = "manifest");

  // Fault hooks.
  Faults& faults();
  void DropWatches();     // closes every open watch now (clients re-watch)
  void CompactHistory();  // the next watch from an older version gets 410 Expired
  uint64_t current_resource_version() const;
  size_t open_watches() const;
  // Waits until the garbage collector and namespace controller have nothing queued.
  void WaitForControllersIdle();

 private:
  absl::Status LoadTokens();
  absl::Status Preload();
  absl::Status WriteState() const;

  Options opts_;
  std::string home_;
  Pki pki_;
  std::string admin_token_;
  std::map<std::string, std::string> tokens_;
  std::shared_ptr<ServerCore> core_;
  std::unique_ptr<Controllers> controllers_;
  std::unique_ptr<HttpServer> http_;
  bool started_ = false;
};

// ${KFAAS_HOME:-$HOME/.kfaas}
std::string DefaultKfaasHome();

}  // namespace kfaas::local
