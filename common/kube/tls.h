// TLS material for the Kubernetes client transports (cpprestsdk's and Boost.Beast's): both
// configure an OpenSSL SSL_CTX the same way.
#pragma once

#include <openssl/types.h>

#include <string_view>

#include "absl/status/status.h"

namespace kfaas::kube {

// Makes `ctx` trust exactly the certificate authorities in `pem` (one or more PEM
// certificates), replacing its trust store: as client-go, the system roots are not added when a
// CA is given. InvalidArgument when `pem` holds no certificate.
absl::Status SetTrustedCas(SSL_CTX* ctx, std::string_view pem);

}  // namespace kfaas::kube
