// Certificates and credentials of the local API server: a CA and a serving certificate
// (ECDSA P-256, OpenSSL 3), kept under <home>/pki and reused across restarts while valid,
// client certificates signed by the CA (CN = user, O = groups), and bearer tokens.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/clock.h"

namespace kfaas::local {

struct Pki {
  std::string ca_cert_pem;
  std::string ca_key_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string ca_cert_path;  // <dir>/ca.crt
};

// Loads <dir>/{ca.crt,ca.key,apiserver.crt,apiserver.key} when they are valid for at least
// another day and the serving certificate covers every SAN in `sans` (DNS names or IP
// addresses); otherwise creates what is missing or stale (a new serving certificate under
// the existing CA when only that is stale). Keys are written 0600.
absl::StatusOr<Pki> LoadOrCreatePki(const std::string& dir, const std::vector<std::string>& sans,
                                    WallTime now);

struct ClientCert {
  std::string cert_pem;
  std::string key_pem;
};
// A client certificate for `user` (CN) in `groups` (O), valid for a year.
absl::StatusOr<ClientCert> IssueClientCert(const Pki& pki, const std::string& user,
                                           const std::vector<std::string>& groups, WallTime now);

// The subject CN of a PEM certificate ("" if unreadable).
std::string CertificateCommonName(const std::string& cert_pem);

// 32 random bytes, hex.
std::string RandomToken();

std::string Base64(const std::string& data);

// Writes `data` to `path` atomically (temporary file + rename) with `mode`.
absl::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode);

}  // namespace kfaas::local
