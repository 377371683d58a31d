// An in-process activator on loopback for integration tests: Registry + AsioProber +
// ProxyServer on a free port, a LocalScaler that "starts" a TestBackend when asked, and a
// blocking HTTP client.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "activator/core/registry.h"
#include "activator/net/prober.h"
#include "activator/net/proxy_server.h"
#include "common/metrics/metrics.h"
#include "tests/activator/fakes.h"
#include "tests/activator/test_backend.h"

namespace kfaas::activator::testing {

struct Response {
  int status = 0;                              // 0: no response (error says why)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct RequestSpec {
  std::string method = "GET";
  std::string target = "/";
  std::string host = "activator";
  std::string body;
  bool chunked = false;
  std::vector<std::pair<std::string, std::string>> headers;
  int timeout_ms = 10000;
};

// One request on a new connection.
Response Fetch(uint16_t port, const RequestSpec& spec);
inline Response Get(uint16_t port, const std::string& target, const std::string& host = "x") {
  RequestSpec s;
  s.target = target;
  s.host = host;
  return Fetch(port, s);
}
// Sends raw bytes and returns whatever comes back until the peer closes or the timeout.
std::string RawExchange(uint16_t port, const std::string& bytes, int timeout_ms = 3000);

nlohmann::json FunctionJson(const std::string& ns, const std::string& name,
                            nlohmann::json spec = nlohmann::json::object());
nlohmann::json SliceJson(const std::string& ns, const std::string& slice, const std::string& fn,
                         uint16_t port, bool ready, const std::string& address = "127.0.0.1");

// A Scaler that starts a TestBackend (per function) when scaled to >= 1 and stops it at 0,
// publishing its EndpointSlice to the registry: first not ready, then ready after
// `slice_ready_delay` (the prober usually finds it first).
class LocalScaler : public Scaler {
 public:
  LocalScaler() = default;
  void set_sink(UpdateSink* sink) { sink_ = sink; }
  ~LocalScaler() override;
  void ScaleTo(const std::string& ns, const std::string& name, int replicas,
               std::function<void(absl::Status)> done) override;
  std::optional<int> CurrentReplicas(const std::string& ns, const std::string& name) override;
  std::vector<int> Writes(const std::string& key);
  TestBackend* backend(const std::string& key);

  std::chrono::milliseconds start_delay{20};
  std::chrono::milliseconds slice_ready_delay{2000};
  bool hold = false;  // when true, backends start only on Release()
  void Release();

 private:
  void StartBackend(std::string ns, std::string name);
  UpdateSink* sink_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  bool stopping_ = false;
  std::map<std::string, std::vector<int>> writes_;
  std::map<std::string, int> replicas_;
  std::map<std::string, std::unique_ptr<TestBackend>> backends_;
  std::vector<std::thread> threads_;
};

class Harness {
 public:
  struct Options {
    CoreOptions core;
    net::ProxyOptions proxy;
    bool local_scaler = true;
  };
  Harness() : Harness(Options{}) {}
  explicit Harness(Options opts);
  ~Harness();

  uint16_t port() const { return server->port(); }
  void AddFunction(const std::string& name, nlohmann::json spec = nlohmann::json::object(),
                   const std::string& ns = "default") {
    registry->OnFunction(FunctionJson(ns, name, spec));
  }
  // A warm backend published as ready in its own slice.
  TestBackend* AddBackend(const std::string& fn, const std::string& backend_name,
                          const std::string& ns = "default");
  std::string Metrics() const { return metrics_registry.Serialize(); }

  metrics::Registry metrics_registry;
  std::unique_ptr<ActivatorMetrics> am;
  GlobalCounters global;
  FakeScaler fake_scaler;
  std::unique_ptr<LocalScaler> local_scaler;
  FakeReporter reporter;
  std::unique_ptr<net::AsioProber> prober;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<net::ProxyServer> server;
  std::vector<std::unique_ptr<TestBackend>> backends;
};

// Polls `cond` every 2 ms until true or the timeout; returns its last value.
bool WaitFor(const std::function<bool()>& cond, int timeout_ms = 5000);

}  // namespace kfaas::activator::testing
