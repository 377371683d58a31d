#include "local/apiserver/api_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/base/log.h"
#include "common/kube/errors.h"
#include "local/apiserver/controllers.h"
#include "local/apiserver/http_server.h"
#include "local/apiserver/local_client.h"

namespace kfaas::local {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string HostFor(const std::string& bind) {
  if (bind.empty() || bind == "0.0.0.0") return "127.0.0.1";
  if (bind == "::") return "[::1]";
  if (bind.find(':') != std::string::npos) return "[" + bind + "]";
  return bind;
}

}  // namespace

std::string DefaultKfaasHome() {
  if (const char* h = getenv("KFAAS_HOME"); h && *h) return h;
  const char* home = getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.kfaas";
}

ApiServer::ApiServer(Options options) : opts_(std::move(options)) {
  home_ = opts_.home.empty() ? DefaultKfaasHome() : opts_.home;
}

ApiServer::~ApiServer() { Stop(); }

std::string ApiServer::log_dir() const {
  return opts_.log_dir.empty() ? home_ + "/logs" : opts_.log_dir;
}

absl::Status ApiServer::LoadTokens() {
  std::string token_path = home_ + "/admin-token";
  std::string tok;
  if (ReadFile(token_path, &tok) && Trim(tok).size() >= 16) {
    admin_token_ = Trim(tok);
  } else {
    admin_token_ = RandomToken();
    if (auto st = WriteFileAtomic(token_path, admin_token_ + "\n", 0600); !st.ok()) return st;
  }
  tokens_[admin_token_] = "kfaas-admin";
  if (!opts_.token_file.empty()) {
    std::string text;
    if (!ReadFile(opts_.token_file, &text)) {
      return absl::InvalidArgumentError("cannot read the token file " + opts_.token_file);
    }
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      line = Trim(line);
      if (line.empty() || line[0] == '#') continue;
      auto c1 = line.find(',');
      if (c1 == std::string::npos) {
        return absl::InvalidArgumentError(opts_.token_file + ":" + std::to_string(n) +
                                          ": expected token,user[,uid[,\"groups\"]]");
      }
      std::string token = Trim(line.substr(0, c1));
      std::string rest = line.substr(c1 + 1);
      std::string user = Trim(rest.substr(0, rest.find(',')));
      if (token.empty() || user.empty()) {
        return absl::InvalidArgumentError(opts_.token_file + ":" + std::to_string(n) +
                                          ": empty token or user");
      }
      tokens_[token] = user;
    }
  }
  return absl::OkStatus();
}

absl::Status ApiServer::Start() {
  if (started_) return absl::FailedPreconditionError("already started");
  std::error_code ec;
  std::filesystem::create_directories(home_, ec);
  if (ec) return absl::InternalError("cannot create " + home_ + ": " + ec.message());
  std::filesystem::create_directories(log_dir(), ec);
  if (ec) return absl::InternalError("cannot create " + log_dir() + ": " + ec.message());
  Clock& clock = opts_.clock ? *opts_.clock : RealClock::Get();
  std::vector<std::string> sans = {"localhost",  "127.0.0.1",          "::1",
                                   "kubernetes", "kubernetes.default", "kubernetes.default.svc"};
  for (const auto& s : opts_.tls_sans) sans.push_back(s);
  if (!opts_.bind_address.empty() && opts_.bind_address != "0.0.0.0" &&
      opts_.bind_address != "::") {
    sans.push_back(opts_.bind_address);
  }
  if (opts_.secure_port >= 0) {
    auto pki = LoadOrCreatePki(home_ + "/pki", sans, clock.WallNow());
    if (!pki.ok()) return pki.status();
    pki_ = *pki;
  }
  if (auto st = LoadTokens(); !st.ok()) return st;

  StoreOptions so;
  so.history_limit = opts_.watch_history;
  so.watch_queue_limit = opts_.watch_queue_limit;
  ApiOptions ao;
  ao.log_dir = log_dir();
  core_ = std::make_shared<ServerCore>(so, ao, clock);
  controllers_ = std::make_unique<Controllers>(core_->api, opts_.bookmark_interval);
  Controllers* ctl = controllers_.get();
  core_->store.SetEventHook([ctl](const EventPtr& e) { ctl->OnEvent(e); });
  controllers_->Start();

  // The namespaces every cluster has, and the kubernetes service.
  Caller system{"system:apiserver", "kube-apiserver/v1.32.4", true};
  auto ns_r = core_->registry.Find("", "v1", "namespaces");
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Json obj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto res = core_->api.Create(*ns_r, "", obj, {}, system);
    if (!res.ok()) return res.status();
  }
  if (auto st = Preload(); !st.ok()) {
    controllers_->Stop();
    return st;
  }

  HttpConfig hc;
  hc.bind_address = opts_.bind_address;
  hc.secure_port = opts_.secure_port;
  hc.insecure_port = opts_.insecure_port;
  hc.threads = opts_.threads > 0
                   ? opts_.threads
                   : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  hc.max_body_bytes = opts_.max_body_bytes;
  hc.max_header_bytes = opts_.max_header_bytes;
  hc.watch_batch_interval = opts_.watch_batch_interval;
  hc.header_timeout = opts_.header_timeout;
  hc.cert_pem = pki_.server_cert_pem;
  hc.key_pem = pki_.server_key_pem;
  hc.ca_pem = pki_.ca_cert_pem;
  hc.tokens = tokens_;
  hc.admin_user = "kfaas-admin";
  http_ = std::make_unique<HttpServer>(core_, hc);
  if (auto st = http_->Start(); !st.ok()) {
    http_.reset();
    controllers_->Stop();
    return st;
  }
  started_ = true;
  if (opts_.write_kubeconfig && opts_.secure_port >= 0) {
    if (auto st = WriteKubeconfig(kubeconfig_path()); !st.ok()) return st;
  }
  if (auto st = WriteState(); !st.ok()) return st;
  return absl::OkStatus();
}

void ApiServer::Stop() {
  if (!started_) {
    if (controllers_) controllers_->Stop();
    return;
  }
  started_ = false;
  core_->stopped = true;
  core_->store.CloseAll();
  if (http_) http_->Stop();
  if (controllers_) controllers_->Stop();
  std::error_code ec;
  std::string state = home_ + "/apiserver.json";
  std::string text;
  if (ReadFile(state, &text)) {
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.value("pid", 0) == getpid()) std::filesystem::remove(state, ec);
  }
}

uint16_t ApiServer::secure_port() const { return http_ ? http_->secure_port() : 0; }
uint16_t ApiServer::insecure_port() const { return http_ ? http_->insecure_port() : 0; }

std::string ApiServer::secure_url() const {
  return "https://" + HostFor(opts_.bind_address) + ":" + std::to_string(secure_port());
}

std::string ApiServer::insecure_url() const {
  if (opts_.insecure_port < 0) return "";
  return "http://" + HostFor(opts_.bind_address) + ":" + std::to_string(insecure_port());
}

std::shared_ptr<kube::Client> ApiServer::LocalClient(std::string user_agent) {
  KFAAS_CHECK(core_) << "LocalClient() before Start()";
  return std::make_shared<local::LocalClient>(core_, std::move(user_agent));
}

absl::StatusOr<ClientCert> ApiServer::IssueClientCertificate(
    const std::string& user, const std::vector<std::string>& groups) {
  if (pki_.ca_key_pem.empty()) return absl::FailedPreconditionError("HTTPS is off: no CA");
  Clock& clock = opts_.clock ? *opts_.clock : RealClock::Get();
  return IssueClientCert(pki_, user, groups, clock.WallNow());
}

absl::Status ApiServer::WriteKubeconfig(const std::string& path, const ClientCert* cert) const {
  std::string user = cert ? CertificateCommonName(cert->cert_pem) : "kfaas-admin";
  if (user.empty()) user = "kfaas-client";
  std::string y;
  y += "apiVersion: v1\nkind: Config\n";
  y += "clusters:\n- name: kfaas-local\n  cluster:\n";
  y += "    server: " + secure_url() + "\n";
  y += "    certificate-authority-data: " + Base64(pki_.ca_cert_pem) + "\n";
  y += "contexts:\n- name: kfaas-local\n  context:\n    cluster: kfaas-local\n";
  y += "    user: " + user + "\n    namespace: default\n";
  y += "current-context: kfaas-local\npreferences: {}\n";
  y += "users:\n- name: " + user + "\n  user:\n";
  if (cert) {
    y += "    client-certificate-data: " + Base64(cert->cert_pem) + "\n";
    y += "    client-key-data: " + Base64(cert->key_pem) + "\n";
  } else {
    y += "    token: " + admin_token_ + "\n";
  }
  return WriteFileAtomic(path, y, 0600);
}

absl::Status ApiServer::WriteState() const {
  Json j = {{"securePort", secure_port()},
            {"insecurePort", insecure_port()},
            {"pid", getpid()},
            {"kubeconfig", kubeconfig_path()},
            {"home", home_}};
  return WriteFileAtomic(home_ + "/apiserver.json", j.dump() + "\n", 0644);
}

absl::Status ApiServer::Preload() {
  for (const auto& p : opts_.preload) {
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
        auto ext = e.path().extension().string();
        if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(e.path().string());
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    // Every CRD of every file first, so a directory may hold a CRD and its objects.
    std::string all;
    for (const auto& f : files) {
      std::string text;
      if (!ReadFile(f, &text)) return absl::InvalidArgumentError("cannot read --preload " + f);
      if (auto st = core_->api.Preload(text, f); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

absl::Status ApiServer::Apply(const std::string& manifests, const std::string& source) {
  if (!core_) return absl::FailedPreconditionError("Apply() before Start()");
  return core_->api.Preload(manifests, source);
}

Faults& ApiServer::faults() {
  KFAAS_CHECK(core_) << "faults() before Start()";
  return core_->faults;
}

void ApiServer::DropWatches() {
  if (core_) core_->store.DropAllWatches();
}

void ApiServer::CompactHistory() {
  if (core_) core_->store.Compact();
}

uint64_t ApiServer::current_resource_version() const {
  return core_ ? core_->store.CurrentRv() : 0;
}

size_t ApiServer::open_watches() const { return core_ ? core_->store.WatcherCount() : 0; }

void ApiServer::WaitForControllersIdle() {
  if (controllers_) controllers_->WaitIdle();
}

}  // namespace kfaas::local
