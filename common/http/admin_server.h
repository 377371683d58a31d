// AdminServer: a small HTTP/1.1 server (Boost.Beast) for admin endpoints: /metrics, /healthz,
// /readyz and component-specific debug pages. Not for the data path.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace kfaas::metrics {
class Registry;
}

namespace kfaas::http {

struct AdminRequest {
  std::string method;
  std::string path;                            // without the query
  std::string query;                           // without '?'
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(const AdminRequest&)>;

  // `address` "0.0.0.0", "127.0.0.1"...; port 0 picks a free one (see port()).
  AdminServer(std::string address, uint16_t port);
  ~AdminServer();  // Stop()

  // Exact-path routes; register before Start().
  void Handle(const std::string& path, Handler handler);
  // /metrics (text format 0.0.4), /healthz (always ok while serving), /readyz (ready()).
  void HandleStandard(metrics::Registry& registry, std::function<bool()> ready);

  absl::Status Start();  // binds and serves on its own thread
  void Stop();
  uint16_t port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "a=b&c=d" into a map, percent-decoding keys and values.
std::map<std::string, std::string> ParseQuery(const std::string& query);
std::string PercentDecode(const std::string& s);

}  // namespace kfaas::http
