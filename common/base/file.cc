#include "common/base/file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"

namespace kfaas {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return absl::NotFoundError("open " + path + ": " + std::strerror(err ? err : ENOENT));
  }
  std::string out;
  char buf[64 * 1024];
  while (in) {
    in.read(buf, sizeof buf);
    out.append(buf, static_cast<std::size_t>(in.gcount()));
    if (out.size() > max_bytes) {
      return absl::ResourceExhaustedError(
          "read " + path + ": larger than " + std::to_string(max_bytes >> 10) +
          " KiB, which no kubeconfig, certificate or token is; check that the path names the "
          "right file");
    }
  }
  if (in.bad()) return absl::DataLossError("read " + path + ": " + std::strerror(errno));
  return out;
}

}  // namespace kfaas
