// Reading small files named by users (kubeconfigs, the certificates and token files they
// reference, service-account mounts) with a size bound, so a wrong path such as /dev/zero or a
// multi-gigabyte log gives a clear error instead of exhausting memory.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace kfaas {

// 4 MiB: far above any kubeconfig, PEM bundle or token, far below a problem.
inline constexpr std::size_t kMaxConfigFileBytes = 4 << 20;

// The whole file, or NotFound (cannot open), DataLoss (read error) or ResourceExhausted (more
// than max_bytes; the message names the file and the limit).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          std::size_t max_bytes = kMaxConfigFileBytes);

}  // namespace kfaas
