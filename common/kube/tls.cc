#include "common/kube/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace kfaas::kube {

absl::Status SetTrustedCas(SSL_CTX* ctx, std::string_view pem) {
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++added;
  }
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (added == 0) {
    X509_STORE_free(store);
    return absl::InvalidArgumentError(
        "no PEM certificate in the certificate authority data (certificate-authority / "
        "certificate-authority-data must hold PEM certificates)");
  }
  SSL_CTX_set_cert_store(ctx, store);  // takes ownership
  return absl::OkStatus();
}

}  // namespace kfaas::kube
