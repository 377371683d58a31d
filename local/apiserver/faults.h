// Fault injection and counters for tests of the local API server's clients.
//
// Driven from C++ (ApiServer::faults()) or over HTTP (POST /kfaas/faults, see api_server.h).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace kfaas::local {

using Json = nlohmann::json;

struct WriteFault {
  int count = 1;           // how many matching writes fail
  int code = 500;          // HTTP code of the failure (409 -> Conflict, 500 -> InternalError...)
  std::string reason;      // Status reason; default from the code
  std::string message;     // default: "injected fault"
  std::string resource;    // "" = any; else plural ("deployments") or "deployments/status"
  std::string verb;        // "" = any; create, update, patch, delete, deletecollection
  std::string user_agent;  // "" = any; else a substring of the caller's user agent
};

struct LatencyFault {
  std::chrono::milliseconds delay{0};
  std::string resource;  // "" = any
  std::string verb;      // "" = any; get, list, watch, create, update, patch, delete
};

class Faults {
 public:
  void FailWrites(WriteFault f);
  void SetLatency(LatencyFault l);  // delay 0 clears
  void Reset();                     // clears write faults and latency (not the counters)

  // Consumes one matching write fault; OK when none applies.
  absl::Status CheckWrite(const std::string& resource, const std::string& subresource,
                          const std::string& verb, const std::string& user_agent);
  std::chrono::milliseconds Latency(const std::string& resource, const std::string& verb) const;

  // Applies a JSON fault request (the HTTP admin endpoint's body); see api_server.h.
  // dropWatches/compact are the caller's to apply (they need the store): returned flags.
  struct JsonActions {
    bool drop_watches = false;
    bool compact = false;
  };
  absl::Status ApplyJson(const Json& req, JsonActions* actions);
  Json StateJson() const;

  // Counters.
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> watches_opened{0};
  std::atomic<uint64_t> events_sent{0};
  std::atomic<uint64_t> injected_failures{0};
  std::atomic<uint64_t> watches_dropped{0};

 private:
  mutable std::mutex mu_;
  std::vector<WriteFault> write_faults_;
  LatencyFault latency_;
};

}  // namespace kfaas::local
