// EventRecorder: writes core/v1 Events about objects, aggregating repeats (same object, type,
// reason and message within 10 minutes bump `count` and `lastTimestamp` instead of creating a
// new Event), asynchronously so callers never block on the API server.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/base/clock.h"
#include "common/kube/client.h"

namespace kfaas::kube {

class EventRecorder {
 public:
  EventRecorder(std::shared_ptr<Client> client, std::string component,
                Clock& clock = RealClock::Get());
  ~EventRecorder();  // flushes pending events (bounded wait) and stops

  // `object` is the involved object (its kind, apiVersion, metadata name/namespace/uid are used).
  // `type` is "Normal" or "Warning".
  void Record(const Json& object, std::string_view type, std::string_view reason,
              std::string_view message);
  // Blocks until all recorded events have been written (for tests).
  void Flush();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::kube
