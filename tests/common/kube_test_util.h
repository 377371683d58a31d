// Helpers shared by the kube_* tests: polling waits, scratch directories, a throwaway PKI.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace kfaas::kube::testing {

// Polls `pred` every few milliseconds until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred,
             std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A scratch directory under $KFAAS_TEST_TMP or /tmp, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name (creating subdirectories) and returns the full path.
  std::string Write(const std::string& name, const std::string& content, int mode = 0644) const;

 private:
  std::string path_;
};

// A CA with a server certificate (SANs `server_names`, DNS names or IPs) and a client
// certificate (CN `client_cn`, O `client_org`), all PEM.
struct Pki {
  std::string ca_cert, ca_key;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
};
Pki MakePki(const std::vector<std::string>& server_names = {"localhost", "127.0.0.1"},
            const std::string& client_cn = "alice", const std::string& client_org = "devs");

std::string Base64(const std::string& s);

}  // namespace kfaas::kube::testing
