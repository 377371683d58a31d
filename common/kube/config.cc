#include "common/kube/config.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/file.h"
#include "common/base/log.h"

namespace kfaas::kube {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) { return ReadSmallFile(path); }

bool FileExists(const std::string& path) {
  std::ifstream in(path);
  return static_cast<bool>(in);
}

std::string Dirname(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string ResolvePath(const std::string& base_file, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return Dirname(base_file) + "/" + p;
}

// One named entry of clusters/users/contexts, remembering where it came from.
struct Entry {
  YAML::Node body;    // the "cluster"/"user"/"context" map
  std::string file;   // the kubeconfig that defined it
  std::string field;  // "users[0].user"
};

struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
  std::string current_context_file;
  std::vector<std::string> files;
};

std::string FilesLabel(const std::vector<std::string>& files) {
  return files.empty() ? "(none)" : absl::StrJoin(files, ":");
}

absl::Status Err(const std::string& file, const std::string& msg) {
  return absl::InvalidArgumentError("kubeconfig " + file + ": " + msg);
}

absl::StatusOr<std::string> ScalarAt(const YAML::Node& map, const std::string& key,
                                     const std::string& file, const std::string& field) {
  YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::string();
  if (!n.IsScalar()) {
    return Err(file, field + "." + key + ": expected a string (line " +
                         std::to_string(n.Mark().line + 1) + ")");
  }
  return n.Scalar();
}

absl::StatusOr<bool> BoolAt(const YAML::Node& map, const std::string& key, const std::string& file,
                            const std::string& field) {
  auto s = ScalarAt(map, key, file, field);
  if (!s.ok()) return s.status();
  if (s->empty() || *s == "false" || *s == "False" || *s == "FALSE") return false;
  if (*s == "true" || *s == "True" || *s == "TRUE") return true;
  return Err(file, field + "." + key + ": expected true or false, got \"" + *s + "\"");
}

absl::Status ParseFileInto(std::string_view text, const std::string& file, Merged* m) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Err(file, "yaml: line " + std::to_string(e.mark.line + 1) + ", column " +
                         std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  m->files.push_back(file);
  if (!root || root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return Err(file, "not a kubeconfig (expected a YAML map at the top level)");
  if (auto kind = root["kind"]; kind && kind.IsScalar() && kind.Scalar() != "Config") {
    return Err(file, "kind: expected \"Config\", got \"" + kind.Scalar() + "\"");
  }

  struct Section {
    const char* list;
    const char* body;
    std::map<std::string, Entry>* dest;
  };
  for (const Section& sec :
       {Section{"clusters", "cluster", &m->clusters}, Section{"users", "user", &m->users},
        Section{"contexts", "context", &m->contexts}}) {
    YAML::Node list = root[sec.list];
    if (!list || list.IsNull()) continue;
    if (!list.IsSequence()) return Err(file, std::string(sec.list) + ": expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string field = std::string(sec.list) + "[" + std::to_string(i) + "]";
      const YAML::Node& item = list[i];
      if (!item.IsMap()) return Err(file, field + ": expected a map");
      auto name = ScalarAt(item, "name", file, field);
      if (!name.ok()) return name.status();
      if (name->empty()) return Err(file, field + ".name: required");
      YAML::Node body = item[sec.body];
      if (body && !body.IsNull() && !body.IsMap()) {
        return Err(file, field + "." + sec.body + ": expected a map");
      }
      // The first file to define a name wins (client-go's merge order).
      sec.dest->emplace(*name, Entry{body ? body : YAML::Node(YAML::NodeType::Map), file,
                                     field + "." + sec.body});
    }
  }
  auto cc = ScalarAt(root, "current-context", file, "");
  if (!cc.ok()) return cc.status();
  if (m->current_context.empty() && !cc->empty()) {
    m->current_context = *cc;
    m->current_context_file = file;
  }
  return absl::OkStatus();
}

enum class PemKind { kCertificates, kPrivateKey };

absl::Status CheckPem(const std::string& pem, PemKind kind) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  bool ok = false;
  if (kind == PemKind::kCertificates) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    ok = cert != nullptr;
    X509_free(cert);
  } else {
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    ok = key != nullptr;
    EVP_PKEY_free(key);
  }
  BIO_free(bio);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(kind == PemKind::kCertificates ? "no PEM certificate found"
                                                                   : "no PEM private key found");
}

absl::Status CheckKeyPair(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* cert = cb ? PEM_read_bio_X509(cb, nullptr, nullptr, nullptr) : nullptr;
  EVP_PKEY* key = kb ? PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr) : nullptr;
  bool ok = cert && key && X509_check_private_key(cert, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cb);
  BIO_free(kb);
  return ok ? absl::OkStatus()
            : absl::InvalidArgumentError("the client certificate does not match the client key");
}

// Reads "<name>-data" (base64) or "<name>" (a file, relative to the kubeconfig) into PEM text.
absl::StatusOr<std::string> ReadPemField(const Entry& e, const std::string& name, PemKind kind) {
  auto data = ScalarAt(e.body, name + "-data", e.file, e.field);
  if (!data.ok()) return data.status();
  auto path = ScalarAt(e.body, name, e.file, e.field);
  if (!path.ok()) return path.status();
  if (!data->empty() && !path->empty()) {
    return Err(e.file,
               e.field + ": both " + name + " and " + name + "-data are set; remove one of them");
  }
  std::string pem;
  std::string where;
  if (!data->empty()) {
    where = e.field + "." + name + "-data";
    std::string stripped;
    for (char c : *data) {
      if (c != '\n' && c != '\r' && c != ' ') stripped.push_back(c);
    }
    if (!absl::Base64Unescape(stripped, &pem)) {
      return Err(e.file, where + ": illegal base64 data");
    }
  } else if (!path->empty()) {
    where = e.field + "." + name;
    auto text = ReadFile(ResolvePath(e.file, *path));
    if (!text.ok()) return Err(e.file, where + ": " + std::string(text.status().message()));
    pem = std::move(*text);
  } else {
    return std::string();
  }
  if (auto s = CheckPem(pem, kind); !s.ok()) {
    return Err(e.file, where + ": " + std::string(s.message()));
  }
  return pem;
}

absl::StatusOr<ExecConfig> ParseExec(const Entry& user) {
  const std::string field = user.field + ".exec";
  YAML::Node n = user.body["exec"];
  if (!n.IsMap()) return Err(user.file, field + ": expected a map");
  Entry e{n, user.file, field};
  ExecConfig ex;
  ex.origin = "kubeconfig " + user.file + ": " + field;
  auto s = ScalarAt(n, "command", e.file, field);
  if (!s.ok()) return s.status();
  if (s->empty()) return Err(e.file, field + ".command: required");
  // client-go resolves the command against the kubeconfig only if it contains a separator.
  ex.command = s->find('/') != std::string::npos ? ResolvePath(e.file, *s) : *s;
  if (auto args = n["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) return Err(e.file, field + ".args: expected a list of strings");
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        return Err(e.file, field + ".args[" + std::to_string(i) + "]: expected a string");
      }
      ex.args.push_back(args[i].Scalar());
    }
  }
  if (auto env = n["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) return Err(e.file, field + ".env: expected a list of {name, value}");
    for (size_t i = 0; i < env.size(); ++i) {
      std::string f = field + ".env[" + std::to_string(i) + "]";
      if (!env[i].IsMap()) return Err(e.file, f + ": expected a map with name and value");
      auto name = ScalarAt(env[i], "name", e.file, f);
      if (!name.ok()) return name.status();
      if (name->empty()) return Err(e.file, f + ".name: required");
      auto value = ScalarAt(env[i], "value", e.file, f);
      if (!value.ok()) return value.status();
      ex.env.emplace_back(*name, *value);
    }
  }
  s = ScalarAt(n, "apiVersion", e.file, field);
  if (!s.ok()) return s.status();
  ex.api_version = *s;
  if (ex.api_version != "client.authentication.k8s.io/v1" &&
      ex.api_version != "client.authentication.k8s.io/v1beta1") {
    return Err(e.file, field + ".apiVersion: \"" + ex.api_version +
                           "\" is not supported (want client.authentication.k8s.io/v1 or "
                           "client.authentication.k8s.io/v1beta1)");
  }
  s = ScalarAt(n, "interactiveMode", e.file, field);
  if (!s.ok()) return s.status();
  ex.interactive_mode = *s;
  if (ex.interactive_mode.empty()) {
    if (ex.api_version == "client.authentication.k8s.io/v1") {
      return Err(e.file, field + ".interactiveMode: required for " + ex.api_version +
                             " (Never, IfAvailable or Always)");
    }
    ex.interactive_mode = "IfAvailable";
  } else if (ex.interactive_mode != "Never" && ex.interactive_mode != "IfAvailable" &&
             ex.interactive_mode != "Always") {
    return Err(e.file, field + ".interactiveMode: \"" + ex.interactive_mode +
                           "\" is not one of Never, IfAvailable, Always");
  }
  s = ScalarAt(n, "installHint", e.file, field);
  if (!s.ok()) return s.status();
  ex.install_hint = *s;
  auto b = BoolAt(n, "provideClusterInfo", e.file, field);
  if (!b.ok()) return b.status();
  ex.provide_cluster_info = *b;
  return ex;
}

absl::StatusOr<RestConfig> Resolve(const Merged& m, const std::string& context_override) {
  const std::string all = FilesLabel(m.files);
  std::string ctx_name = context_override;
  std::string ctx_origin = "--context";
  std::string ctx_file = all;
  if (ctx_name.empty()) {
    ctx_name = m.current_context;
    ctx_origin = "current-context";
    ctx_file = m.current_context_file.empty() ? all : m.current_context_file;
  }
  if (ctx_name.empty()) {
    if (m.contexts.empty() && m.clusters.empty()) {
      return Err(all, "no configuration found (no contexts or clusters)");
    }
    return Err(all, "current-context is not set; set it or pass --context");
  }
  auto cit = m.contexts.find(ctx_name);
  if (cit == m.contexts.end()) {
    return Err(ctx_file, "context \"" + ctx_name + "\" not found (" + ctx_origin + ")");
  }
  const Entry& ctx = cit->second;
  auto cluster_name = ScalarAt(ctx.body, "cluster", ctx.file, ctx.field);
  if (!cluster_name.ok()) return cluster_name.status();
  if (cluster_name->empty()) return Err(ctx.file, ctx.field + ".cluster: required");
  auto clit = m.clusters.find(*cluster_name);
  if (clit == m.clusters.end()) {
    return Err(ctx.file, ctx.field + ".cluster: cluster \"" + *cluster_name + "\" not found");
  }
  auto user_name = ScalarAt(ctx.body, "user", ctx.file, ctx.field);
  if (!user_name.ok()) return user_name.status();
  const Entry* user = nullptr;
  if (!user_name->empty()) {
    auto uit = m.users.find(*user_name);
    if (uit == m.users.end()) {
      return Err(ctx.file, ctx.field + ".user: user \"" + *user_name + "\" not found");
    }
    user = &uit->second;
  }

  RestConfig rc;
  rc.source = "kubeconfig " + all + " (context " + ctx_name + ")";
  auto ns = ScalarAt(ctx.body, "namespace", ctx.file, ctx.field);
  if (!ns.ok()) return ns.status();
  if (!ns->empty()) rc.default_namespace = *ns;

  const Entry& cl = clit->second;
  auto server = ScalarAt(cl.body, "server", cl.file, cl.field);
  if (!server.ok()) return server.status();
  if (server->empty()) return Err(cl.file, cl.field + ".server: required");
  std::string host = *server;
  if (host.rfind("https://", 0) != 0 && host.rfind("http://", 0) != 0) {
    if (host.find("://") != std::string::npos) {
      return Err(cl.file,
                 cl.field + ".server: \"" + host + "\": only http and https are supported");
    }
    host = "https://" + host;  // client-go defaults a bare host:port to https
  }
  while (host.size() > 8 && host.back() == '/') host.pop_back();
  rc.host = host;
  const bool secure = host.rfind("https://", 0) == 0;

  auto ca = ReadPemField(cl, "certificate-authority", PemKind::kCertificates);
  if (!ca.ok()) return ca.status();
  rc.ca_pem = std::move(*ca);
  auto insecure = BoolAt(cl.body, "insecure-skip-tls-verify", cl.file, cl.field);
  if (!insecure.ok()) return insecure.status();
  rc.insecure_skip_tls_verify = *insecure;
  if (rc.insecure_skip_tls_verify && !rc.ca_pem.empty()) {
    return Err(cl.file, cl.field +
                            ": insecure-skip-tls-verify and a certificate authority are both set; "
                            "remove one of them");
  }
  auto sni = ScalarAt(cl.body, "tls-server-name", cl.file, cl.field);
  if (!sni.ok()) return sni.status();
  rc.tls_server_name = *sni;
  if (auto proxy = ScalarAt(cl.body, "proxy-url", cl.file, cl.field);
      proxy.ok() && !proxy->empty()) {
    KFAAS_LOG(WARNING) << "kubeconfig " << cl.file << ": " << cl.field
                       << ".proxy-url is not supported and is ignored";
  }

  if (user == nullptr) return rc;
  const Entry& u = *user;
  for (const char* unsupported : {"auth-provider", "as", "as-uid", "as-groups", "as-user-extra"}) {
    if (auto n = u.body[unsupported]; n && !n.IsNull()) {
      return Err(u.file, u.field + "." + unsupported +
                             ": not supported by kfaas (use a token, client certificates or an "
                             "exec plugin)");
    }
  }
  if (!secure) {
    // client-go: "only try to read the auth information if we are secure".
    KFAAS_VLOG(1) << rc.source << ": server is plain http; user credentials are not sent";
    return rc;
  }
  auto cert = ReadPemField(u, "client-certificate", PemKind::kCertificates);
  if (!cert.ok()) return cert.status();
  auto key = ReadPemField(u, "client-key", PemKind::kPrivateKey);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return Err(u.file, u.field + ": " +
                           (cert->empty() ? "client-key is set without client-certificate"
                                          : "client-certificate is set without client-key"));
  }
  if (!cert->empty()) {
    if (auto s = CheckKeyPair(*cert, *key); !s.ok()) {
      return Err(u.file, u.field + ": " + std::string(s.message()));
    }
  }
  rc.client_cert_pem = std::move(*cert);
  rc.client_key_pem = std::move(*key);

  auto token = ScalarAt(u.body, "token", u.file, u.field);
  if (!token.ok()) return token.status();
  rc.bearer_token = *token;
  auto token_file = ScalarAt(u.body, "tokenFile", u.file, u.field);
  if (!token_file.ok()) return token_file.status();
  if (!token_file->empty()) {
    rc.bearer_token_file = ResolvePath(u.file, *token_file);
    auto t = ReadFile(rc.bearer_token_file);
    if (!t.ok()) return Err(u.file, u.field + ".tokenFile: " + std::string(t.status().message()));
  }
  auto username = ScalarAt(u.body, "username", u.file, u.field);
  if (!username.ok()) return username.status();
  auto password = ScalarAt(u.body, "password", u.file, u.field);
  if (!password.ok()) return password.status();
  rc.username = *username;
  rc.password = *password;
  if ((!rc.bearer_token.empty() || !rc.bearer_token_file.empty()) && !rc.username.empty()) {
    return Err(u.file, u.field +
                           ": more than one authentication method (token and username/password); "
                           "only one is allowed");
  }
  if (auto n = u.body["exec"]; n && !n.IsNull()) {
    auto ex = ParseExec(u);
    if (!ex.ok()) return ex.status();
    rc.exec = std::move(*ex);
  }
  return rc;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (auto part : absl::StrSplit(s, ':')) {
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

}  // namespace

std::optional<std::string> ProcessGetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

absl::StatusOr<RestConfig> ParseKubeconfig(std::string_view text, const std::string& path,
                                           const std::string& context) {
  Merged m;
  if (auto s = ParseFileInto(text, path, &m); !s.ok()) return s;
  return Resolve(m, context);
}

absl::StatusOr<RestConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                          const std::string& context, bool require_all) {
  Merged m;
  for (const std::string& p : paths) {
    auto text = ReadFile(p);
    if (!text.ok()) {
      if (!require_all && !FileExists(p)) continue;
      return absl::NotFoundError("kubeconfig " + p + ": " + std::string(text.status().message()));
    }
    if (auto s = ParseFileInto(*text, p, &m); !s.ok()) return s;
  }
  if (m.files.empty()) {
    return absl::NotFoundError("kubeconfig: none of the files exist: " + absl::StrJoin(paths, ":"));
  }
  return Resolve(m, context);
}

absl::StatusOr<RestConfig> InClusterConfig(const GetEnvFunc& getenv_in, const std::string& dir) {
  GetEnvFunc getenv = getenv_in ? getenv_in : GetEnvFunc(ProcessGetEnv);
  auto host = getenv("KUBERNETES_SERVICE_HOST");
  auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty()) {
    return absl::NotFoundError(
        "in-cluster: not running in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
        "must be set)");
  }
  RestConfig rc;
  rc.source = "in-cluster (" + dir + ")";
  std::string h = *host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // IPv6
  rc.host = "https://" + h + ":" + *port;
  rc.bearer_token_file = dir + "/token";
  auto token = ReadFile(rc.bearer_token_file);
  if (!token.ok())
    return absl::NotFoundError("in-cluster: " + std::string(token.status().message()));
  auto ca = ReadFile(dir + "/ca.crt");
  if (!ca.ok()) return absl::NotFoundError("in-cluster: " + std::string(ca.status().message()));
  if (auto s = CheckPem(*ca, PemKind::kCertificates); !s.ok()) {
    return absl::InvalidArgumentError("in-cluster: " + dir +
                                      "/ca.crt: " + std::string(s.message()));
  }
  rc.ca_pem = std::move(*ca);
  if (auto pod_ns = getenv("POD_NAMESPACE"); pod_ns && !pod_ns->empty()) {
    rc.default_namespace = *pod_ns;
  } else if (auto ns = ReadFile(dir + "/namespace"); ns.ok()) {
    std::string v(absl::StripAsciiWhitespace(*ns));
    if (!v.empty()) rc.default_namespace = v;
  }
  return rc;
}

absl::StatusOr<RestConfig> LoadConfig(const ConfigLoadOptions& opts) {
  GetEnvFunc getenv = opts.getenv ? opts.getenv : GetEnvFunc(ProcessGetEnv);
  if (!opts.kubeconfig.empty()) return LoadKubeconfig({opts.kubeconfig}, opts.context, true);
  auto env = getenv("KUBECONFIG");
  if (env && !env->empty()) {
    auto files = SplitList(*env);
    return LoadKubeconfig(files, opts.context, /*require_all=*/false);
  }
  auto in_cluster = InClusterConfig(getenv, opts.service_account_dir);
  if (in_cluster.ok()) return in_cluster;
  if (!absl::IsNotFound(in_cluster.status())) return in_cluster.status();
  auto home = getenv("HOME");
  std::string path = (home && !home->empty() ? *home : std::string(".")) + "/.kube/config";
  if (!FileExists(path)) {
    return absl::NotFoundError(
        "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a pod, or create " +
        path + " (" + std::string(in_cluster.status().message()) + ")");
  }
  return LoadKubeconfig({path}, opts.context, true);
}

}  // namespace kfaas::kube
