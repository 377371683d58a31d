// A small scriptable HTTP(S) server on loopback (Boost.Beast, a thread per connection) for the
// kube client's integration tests, and FakeApiServer: an in-memory Kubernetes API on top of it
// with list/watch/resourceVersion semantics and fault hooks (drop watches, compact history,
// fail requests, require a token).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/common/kube_test_util.h"

namespace kfaas::kube::testing {

using Json = nlohmann::json;

struct TestRequest {
  std::string method;
  std::string target;  // raw path?query
  std::string path;    // decoded path
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string client_cn;  // TLS client certificate subject CN, if any
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Writes chunks of a streamed (chunked) response.
class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  // False once the connection is broken or the server is stopping.
  virtual bool Write(const std::string& data) = 0;
  virtual bool Closed() const = 0;
  // Breaks the connection (no final chunk): the client sees a truncated stream.
  virtual void Abort() = 0;
};

struct TestResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  // When set, the response is chunked and this produces the body; returning ends it cleanly.
  std::function<void(ChunkWriter&)> stream;
  bool close_connection = false;  // close without a response (simulates a crash mid-request)
};

class TestServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  struct Options {
    bool tls = false;
    const Pki* pki = nullptr;  // required for tls
    bool require_client_cert = false;
  };
  TestServer(Handler handler, Options opts);
  explicit TestServer(Handler handler) : TestServer(std::move(handler), Options()) {}
  ~TestServer();

  int port() const { return port_; }
  std::string url() const;  // http(s)://127.0.0.1:<port>
  // Aborts every open connection (clients see a reset or truncated stream).
  void DropConnections();
  void Stop();
  int64_t requests() const { return requests_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<int64_t> requests_{0};
};

// An in-memory API server for any resource path, enough for the client's tests:
//   GET/LIST (limit/continue, labelSelector equality), POST, PUT (resourceVersion precondition),
//   PATCH (merge and JSON patch), DELETE, watch (resourceVersion, bookmarks, timeoutSeconds,
//   410 via an ERROR event once history is compacted), /version.
class FakeApiServer {
 public:
  explicit FakeApiServer(TestServer::Options opts = {});
  ~FakeApiServer();

  std::string url() const { return server_->url(); }
  TestServer& server() { return *server_; }

  // Fault hooks.
  void DropWatches();          // end every open watch stream abruptly
  void CloseWatchesCleanly();  // end every open watch stream with a clean end of body
  void Compact();              // forget history: watches from older versions get 410
  // The next `n` requests matching `method` ("" = any) fail with `status` (and Retry-After).
  void FailNext(int n, int status, const std::string& method = "", int retry_after = 0);
  void RequireToken(const std::string& token);  // others get 401
  void SetBookmarkInterval(std::chrono::milliseconds d);

  // Direct access to the store (bypasses HTTP). Keys are "<collection path>/<name>" where the
  // collection path is e.g. "/api/v1/namespaces/default/configmaps".
  Json Create(const std::string& collection, Json obj);
  Json Update(const std::string& collection, Json obj);  // unconditional
  bool Delete(const std::string& collection, const std::string& name);
  std::vector<Json> Objects(const std::string& resource_suffix) const;  // e.g. "/configmaps"
  int64_t ResourceVersion() const;
  int OpenWatches() const;
  std::vector<std::string> Log() const;  // "METHOD target" of every request

 private:
  struct Event {
    std::string type;
    std::string key;
    Json object;
    int64_t rv;
  };
  TestResponse Handle(const TestRequest& req);
  TestResponse HandleWatch(const TestRequest& req, const std::string& collection);
  TestResponse HandleList(const TestRequest& req, const std::string& collection);
  Json StoreLocked(const std::string& type, const std::string& key, Json obj);
  static bool InCollection(const std::string& key, const std::string& collection);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Json> objects_;  // key -> object
  std::vector<Event> history_;
  int64_t rv_ = 100;
  int64_t compacted_rv_ = 0;  // watches from versions < this get 410
  int64_t watch_generation_ = 0;
  int64_t clean_close_generation_ = 0;
  int open_watches_ = 0;
  struct Failure {
    int n;
    int status;
    std::string method;
    int retry_after;
  };
  std::vector<Failure> failures_;
  std::string token_;
  std::chrono::milliseconds bookmark_interval_{0};
  std::vector<std::string> log_;
  bool stopping_ = false;
  int64_t uid_ = 0;
  std::unique_ptr<TestServer> server_;
};

}  // namespace kfaas::kube::testing
