// TestBackend: a small HTTP/1.1 server on loopback standing in for a function instance.
//
//   /hello                 200 "hello from <name>"
//   /delay?ms=N            answers after N ms
//   /stream?chunks=N&ms=M  chunked response, N chunks of "chunk i\n", M ms apart
//   /big?bytes=N           N bytes, chunked, generated while sent
//   /count                 reads the request body streaming, answers its size in bytes
//   /close                 promises 100 bytes, sends 10, closes
//   /headers               the request line and headers as received, one per line
//   /status?code=N         answers code N
//   anything else          200 "<name> <target>"
// Stop() closes the listener and every open connection (an instance killed mid-flight).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace kfaas::activator::testing {

class TestBackend {
 public:
  explicit TestBackend(std::string name = "backend", int threads = 1);
  ~TestBackend();
  // Listens on 127.0.0.1:`port` (0 = any free port).
  bool Start(uint16_t port = 0);
  void Stop();
  uint16_t port() const;
  int64_t requests() const;
  int64_t open_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A free TCP port on 127.0.0.1 (bound and released; racy, but fine for tests).
uint16_t FreePort();

}  // namespace kfaas::activator::testing
