#include "tests/common/kube_test_util.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/escaping.h"

namespace kfaas::kube::testing {

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

TempDir::TempDir() {
  const char* base = std::getenv("KFAAS_TEST_TMP");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/kfaas-kube-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& content, int mode) const {
  std::string full = path_ + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(full).parent_path());
  {
    std::ofstream out(full, std::ios::binary | std::ios::trunc);
    out << content;
  }
  std::filesystem::permissions(full, static_cast<std::filesystem::perms>(mode));
  return full;
}

std::string Base64(const std::string& s) { return absl::Base64Escape(s); }

namespace {

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* NewCert(EVP_PKEY* key, const std::string& cn, const std::string& org, long serial) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 30);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  if (!org.empty()) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  return cert;
}

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

Pki MakePki(const std::vector<std::string>& server_names, const std::string& client_cn,
            const std::string& client_org) {
  static long serial = 1;
  Pki pki;
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  X509* ca = NewCert(ca_key, "kfaas-test-ca", "", serial++);
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  AddExt(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  AddExt(ca, ca, NID_subject_key_identifier, "hash");
  X509_sign(ca, ca_key, EVP_sha256());
  pki.ca_cert = CertPem(ca);
  pki.ca_key = KeyPem(ca_key);

  EVP_PKEY* server_key = EVP_EC_gen("P-256");
  X509* server =
      NewCert(server_key, server_names.empty() ? "server" : server_names[0], "", serial++);
  X509_set_issuer_name(server, X509_get_subject_name(ca));
  std::string san;
  for (const auto& n : server_names) {
    if (!san.empty()) san += ",";
    san += (IsIp(n) ? "IP:" : "DNS:") + n;
  }
  if (!san.empty()) AddExt(server, ca, NID_subject_alt_name, san);
  AddExt(server, ca, NID_ext_key_usage, "serverAuth");
  AddExt(server, ca, NID_basic_constraints, "CA:FALSE");
  X509_sign(server, ca_key, EVP_sha256());
  pki.server_cert = CertPem(server);
  pki.server_key = KeyPem(server_key);

  EVP_PKEY* client_key = EVP_EC_gen("P-256");
  X509* client = NewCert(client_key, client_cn, client_org, serial++);
  X509_set_issuer_name(client, X509_get_subject_name(ca));
  AddExt(client, ca, NID_ext_key_usage, "clientAuth");
  AddExt(client, ca, NID_basic_constraints, "CA:FALSE");
  X509_sign(client, ca_key, EVP_sha256());
  pki.client_cert = CertPem(client);
  pki.client_key = KeyPem(client_key);

  X509_free(ca);
  X509_free(server);
  X509_free(client);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(server_key);
  EVP_PKEY_free(client_key);
  return pki;
}

}  // namespace kfaas::kube::testing
