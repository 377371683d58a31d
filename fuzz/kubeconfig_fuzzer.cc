// Fuzzes the kubeconfig parser (common/kube/config.h ParseKubeconfig) with arbitrary YAML.
// Relative file references resolve under a directory that does not exist, so the parser's
// file reads fail cleanly. Invariant: any input gives a config or an error naming the file;
// no crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kPath = "/nonexistent-kfaas-fuzz/kubeconfig";
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rc = kfaas::kube::ParseKubeconfig(text, kPath);
  if (!rc.ok() && std::string(rc.status().message()).find(kPath) == std::string::npos) {
    abort();  // every error names the file
  }
  // With an explicit context that does not exist: must be an error.
  auto other = kfaas::kube::ParseKubeconfig(text, kPath, "no-such-context-kfaas-fuzz");
  if (other.ok()) abort();
  return 0;
}
