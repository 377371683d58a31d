#include "local/apiserver/pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/status/status.h"

namespace kfaas::local {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

absl::Status SslError(const std::string& what) { return absl::InternalError("openssl: " + what); }

PKey NewKey() { return PKey(EVP_EC_gen("P-256")); }

std::string KeyPem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string CertPem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Cert ParseCert(const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
}

PKey ParseKey(const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PKey(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

bool IsIp(const std::string& s) {
  return s.find(':') != std::string::npos ||
         (!s.empty() && s.find_first_not_of("0123456789.") == std::string::npos);
}

// Builds and signs a certificate. issuer == nullptr: self-signed.
absl::StatusOr<Cert> MakeCert(EVP_PKEY* key, const std::string& cn,
                              const std::vector<std::string>& orgs, X509* issuer,
                              EVP_PKEY* issuer_key, long days, bool ca, bool server,
                              const std::vector<std::string>& sans, WallTime now) {
  Cert c(X509_new());
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  time_t t = std::chrono::system_clock::to_time_t(now);
  ASN1_TIME_set(X509_getm_notBefore(c.get()), t - 3600);
  ASN1_TIME_set(X509_getm_notAfter(c.get()), t + days * 86400L);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  for (const auto& o : orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : c.get();
  if (ca) {
    AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
    AddExt(c.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    AddExt(c.get(), iss, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
    AddExt(c.get(), iss, NID_authority_key_identifier, "keyid:always");
  }
  if (!sans.empty()) {
    std::string v;
    for (const auto& s : sans) {
      if (!v.empty()) v += ",";
      v += (IsIp(s) ? "IP:" : "DNS:") + s;
    }
    AddExt(c.get(), iss, NID_subject_alt_name, v.c_str());
  }
  if (X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
    return SslError("signing the certificate for " + cn);
  }
  return c;
}

bool ValidFor(X509* c, WallTime now, std::chrono::hours margin) {
  time_t t = std::chrono::system_clock::to_time_t(now + margin);
  return X509_cmp_time(X509_get0_notAfter(c), &t) > 0;
}

}  // namespace

absl::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return absl::InternalError("cannot write " + tmp + ": " + strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      return absl::InternalError("cannot write " + tmp + ": " + strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, static_cast<mode_t>(mode));
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("cannot rename " + tmp + " to " + path + ": " + strerror(errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<Pki> LoadOrCreatePki(const std::string& dir, const std::vector<std::string>& sans,
                                    WallTime now) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError("cannot create " + dir + ": " + ec.message());
  Pki pki;
  pki.ca_cert_path = dir + "/ca.crt";
  std::string ca_crt, ca_key, srv_crt, srv_key;
  Cert ca;
  PKey cakey;
  if (ReadFile(dir + "/ca.crt", &ca_crt) && ReadFile(dir + "/ca.key", &ca_key)) {
    ca = ParseCert(ca_crt);
    cakey = ParseKey(ca_key);
    if (!ca || !cakey || !ValidFor(ca.get(), now, std::chrono::hours(24 * 30)) ||
        X509_check_private_key(ca.get(), cakey.get()) != 1) {
      ca.reset();
      cakey.reset();
    }
  }
  bool new_ca = false;
  if (!ca) {
    cakey = NewKey();
    if (!cakey) return SslError("generating the CA key");
    auto c =
        MakeCert(cakey.get(), "kfaas-local-ca", {}, nullptr, nullptr, 3650, true, false, {}, now);
    if (!c.ok()) return c.status();
    ca = std::move(*c);
    ca_crt = CertPem(ca.get());
    ca_key = KeyPem(cakey.get());
    if (auto st = WriteFileAtomic(dir + "/ca.key", ca_key, 0600); !st.ok()) return st;
    if (auto st = WriteFileAtomic(dir + "/ca.crt", ca_crt, 0644); !st.ok()) return st;
    new_ca = true;
  }
  Cert srv;
  PKey srvkey;
  if (!new_ca && ReadFile(dir + "/apiserver.crt", &srv_crt) &&
      ReadFile(dir + "/apiserver.key", &srv_key)) {
    srv = ParseCert(srv_crt);
    srvkey = ParseKey(srv_key);
    bool ok = srv && srvkey && ValidFor(srv.get(), now, std::chrono::hours(24)) &&
              X509_check_private_key(srv.get(), srvkey.get()) == 1 &&
              X509_verify(srv.get(), cakey.get()) == 1;
    for (const auto& s : sans) {
      if (!ok) break;
      if (IsIp(s)) {
        ok = X509_check_ip_asc(srv.get(), s.c_str(), 0) == 1;
      } else {
        ok = X509_check_host(srv.get(), s.c_str(), s.size(), 0, nullptr) == 1;
      }
    }
    if (!ok) srv.reset();
  }
  if (!srv) {
    srvkey = NewKey();
    if (!srvkey) return SslError("generating the serving key");
    auto c = MakeCert(srvkey.get(), "kfaas-local-apiserver", {}, ca.get(), cakey.get(), 365, false,
                      true, sans, now);
    if (!c.ok()) return c.status();
    srv = std::move(*c);
    srv_crt = CertPem(srv.get());
    srv_key = KeyPem(srvkey.get());
    if (auto st = WriteFileAtomic(dir + "/apiserver.key", srv_key, 0600); !st.ok()) return st;
    if (auto st = WriteFileAtomic(dir + "/apiserver.crt", srv_crt, 0644); !st.ok()) return st;
  }
  pki.ca_cert_pem = ca_crt;
  pki.ca_key_pem = ca_key;
  pki.server_cert_pem = srv_crt;
  pki.server_key_pem = srv_key;
  return pki;
}

absl::StatusOr<ClientCert> IssueClientCert(const Pki& pki, const std::string& user,
                                           const std::vector<std::string>& groups, WallTime now) {
  Cert ca = ParseCert(pki.ca_cert_pem);
  PKey cakey = ParseKey(pki.ca_key_pem);
  if (!ca || !cakey) return SslError("reading the CA");
  PKey key = NewKey();
  if (!key) return SslError("generating a client key");
  auto c = MakeCert(key.get(), user, groups, ca.get(), cakey.get(), 365, false, false, {}, now);
  if (!c.ok()) return c.status();
  return ClientCert{CertPem(c->get()), KeyPem(key.get())};
}

std::string CertificateCommonName(const std::string& cert_pem) {
  Cert c = ParseCert(cert_pem);
  if (!c) return "";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(c.get()), NID_commonName, buf, sizeof(buf));
  return buf;
}

std::string RandomToken() {
  unsigned char b[32];
  RAND_bytes(b, sizeof(b));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace kfaas::local
