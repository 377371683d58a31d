#include "common/kube/auth.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "common/base/file.h"
#include "common/base/json_fields.h"
#include "common/base/time_format.h"

extern char** environ;

namespace kfaas::kube {
namespace {

using Json = nlohmann::json;

class StaticSource final : public TokenSource {
 public:
  explicit StaticSource(std::string token) : token_(std::move(token)) {}
  absl::StatusOr<std::string> Token() override { return token_; }
  bool Invalidate(const std::string&) override { return false; }
  std::string Describe() const override { return "token"; }

 private:
  const std::string token_;
};

class FileSource final : public TokenSource {
 public:
  FileSource(std::string path, Clock& clock, Duration refresh)
      : path_(std::move(path)), clock_(clock), refresh_(refresh) {}

  absl::StatusOr<std::string> Token() override {
    std::lock_guard<std::mutex> l(mu_);
    SteadyTime now = clock_.Now();
    if (loaded_ && now - read_at_ < refresh_) return token_;
    auto text = ReadSmallFile(path_);
    if (!text.ok()) {
      if (loaded_) return token_;  // keep the last good token; the file may be mid-rotation
      return absl::UnauthenticatedError("reading token file: " +
                                        std::string(text.status().message()));
    }
    token_ = std::string(absl::StripAsciiWhitespace(*text));
    loaded_ = true;
    read_at_ = now;
    return token_;
  }

  bool Invalidate(const std::string& token) override {
    std::lock_guard<std::mutex> l(mu_);
    if (token != token_) return true;  // already re-read since
    // Re-read on the next call; a retry helps only if the file changed.
    auto text = ReadSmallFile(path_);
    if (!text.ok()) return false;
    std::string fresh(absl::StripAsciiWhitespace(*text));
    if (fresh.empty() || fresh == token_) return false;
    token_ = fresh;
    read_at_ = clock_.Now();
    return true;
  }

  std::string Describe() const override { return "token file " + path_; }

 private:
  const std::string path_;
  Clock& clock_;
  const Duration refresh_;
  std::mutex mu_;
  bool loaded_ = false;
  std::string token_;
  SteadyTime read_at_{};
};

// A string member, "" when absent or not a string (plugin output is untrusted).
using json::Str;

std::string Tail(const std::string& s, size_t n) {
  std::string t = s.size() > n ? "..." + s.substr(s.size() - n) : s;
  return std::string(absl::StripAsciiWhitespace(t));
}

std::string PluginName(const ExecConfig& exec) { return "exec plugin \"" + exec.command + "\""; }

class ExecSource final : public TokenSource {
 public:
  ExecSource(ExecConfig exec, ExecClusterInfo cluster, Clock& clock)
      : exec_(std::move(exec)), cluster_(std::move(cluster)), clock_(clock) {}

  absl::StatusOr<std::string> Token() override {
    std::lock_guard<std::mutex> l(mu_);
    if (have_ && (!cred_.expiration || clock_.WallNow() < *cred_.expiration)) return cred_.token;
    auto cred = RunExecPlugin(exec_, cluster_);
    if (!cred.ok()) return cred.status();
    if (cred->token.empty()) {
      return absl::UnauthenticatedError(
          PluginName(exec_) +
          " returned client certificate data but no token; only token credentials are "
          "supported by kfaas");
    }
    cred_ = std::move(*cred);
    have_ = true;
    return cred_.token;
  }

  bool Invalidate(const std::string& token) override {
    std::lock_guard<std::mutex> l(mu_);
    if (have_ && cred_.token == token) have_ = false;
    return true;
  }

  std::string Describe() const override { return PluginName(exec_); }

 private:
  const ExecConfig exec_;
  const ExecClusterInfo cluster_;
  Clock& clock_;
  std::mutex mu_;
  bool have_ = false;
  ExecCredential cred_;
};

}  // namespace

std::unique_ptr<TokenSource> StaticTokenSource(std::string token) {
  return std::make_unique<StaticSource>(std::move(token));
}

std::unique_ptr<TokenSource> FileTokenSource(std::string path, Clock& clock, Duration refresh) {
  return std::make_unique<FileSource>(std::move(path), clock, refresh);
}

std::unique_ptr<TokenSource> ExecTokenSource(ExecConfig exec, ExecClusterInfo cluster,
                                             Clock& clock) {
  return std::make_unique<ExecSource>(std::move(exec), std::move(cluster), clock);
}

std::unique_ptr<TokenSource> MakeTokenSource(const RestConfig& config, Clock& clock) {
  if (config.exec) {
    ExecClusterInfo info{config.host, config.ca_pem, config.tls_server_name,
                         config.insecure_skip_tls_verify};
    return ExecTokenSource(*config.exec, std::move(info), clock);
  }
  if (!config.bearer_token_file.empty()) {
    return FileTokenSource(config.bearer_token_file, clock, config.token_file_refresh);
  }
  if (!config.bearer_token.empty()) return StaticTokenSource(config.bearer_token);
  return nullptr;
}

absl::StatusOr<ExecCredential> RunExecPlugin(const ExecConfig& exec, const ExecClusterInfo& cluster,
                                             Duration timeout) {
  const std::string name = PluginName(exec);
  if (exec.interactive_mode == "Always") {
    return absl::FailedPreconditionError(
        name +
        " requires interactive mode (interactiveMode: Always), but kfaas runs without a "
        "terminal; use a plugin that works non-interactively");
  }

  Json info = {{"kind", "ExecCredential"},
               {"apiVersion", exec.api_version},
               {"spec", {{"interactive", false}}}};
  if (exec.provide_cluster_info) {
    Json c = {{"server", cluster.server}};
    if (!cluster.tls_server_name.empty()) c["tls-server-name"] = cluster.tls_server_name;
    if (cluster.insecure_skip_tls_verify) c["insecure-skip-tls-verify"] = true;
    if (!cluster.ca_pem.empty())
      c["certificate-authority-data"] = absl::Base64Escape(cluster.ca_pem);
    info["spec"]["cluster"] = std::move(c);
  }

  // Build argv and envp before spawning.
  std::vector<std::string> env_strings;
  auto overridden = [&](std::string_view entry) {
    auto eq = entry.find('=');
    std::string_view key = entry.substr(0, eq);
    if (key == "KUBERNETES_EXEC_INFO") return true;
    for (const auto& [k, v] : exec.env) {
      if (k == key) return true;
    }
    return false;
  };
  for (char** e = environ; e && *e; ++e) {
    if (!overridden(*e)) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : exec.env) env_strings.push_back(k + "=" + v);
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + info.dump());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings{exec.command};
  arg_strings.insert(arg_strings.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return absl::InternalError("pipe: " + std::string(strerror(errno)));
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe: " + std::string(strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, exec.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    std::string msg = name + " (" + exec.origin + "): ";
    if (rc == ENOENT) {
      msg += "executable not found";
      msg += exec.install_hint.empty() ? "; install it or fix the command in the kubeconfig"
                                       : ". " + exec.install_hint;
    } else {
      msg += std::strerror(rc);
    }
    return absl::UnauthenticatedError(msg);
  }

  std::string out, err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  char buf[4096];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (i == 0 ? out : err).append(buf, static_cast<size_t>(r));
        if (out.size() > (16u << 20)) {
          timed_out = true;  // treat a flood as a failure
          open_fds = 0;
          break;
        }
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        name + " (" + exec.origin + ") did not finish within " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
        "s and was killed");
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::string how = WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                         : "killed by signal " + std::to_string(WTERMSIG(wstatus));
    std::string msg = name + " (" + exec.origin + ") failed: " + how;
    if (!err.empty()) msg += ": " + Tail(err, 1000);
    return absl::UnauthenticatedError(msg);
  }

  Json j = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::UnauthenticatedError(
        name + ": decoding stdout: not a JSON ExecCredential: " + Tail(out, 200));
  }
  if (Str(j, "kind") != "ExecCredential") {
    return absl::UnauthenticatedError(name + ": decoding stdout: kind is \"" + Str(j, "kind") +
                                      "\", want ExecCredential");
  }
  if (Str(j, "apiVersion") != exec.api_version) {
    return absl::UnauthenticatedError(
        name + ": exec plugin is configured to use API version " + exec.api_version +
        ", plugin returned version " +
        (Str(j, "apiVersion").empty() ? std::string("(none)") : Str(j, "apiVersion")));
  }
  auto status = j.find("status");
  if (status == j.end() || !status->is_object()) {
    return absl::UnauthenticatedError(name + ": the ExecCredential has no status");
  }
  ExecCredential cred;
  cred.token = Str(*status, "token");
  cred.client_certificate_pem = Str(*status, "clientCertificateData");
  cred.client_key_pem = Str(*status, "clientKeyData");
  if (cred.token.empty() && (cred.client_certificate_pem.empty() || cred.client_key_pem.empty())) {
    return absl::UnauthenticatedError(
        name +
        ": the ExecCredential status has neither a token nor clientCertificateData and "
        "clientKeyData");
  }
  if (auto exp = Str(*status, "expirationTimestamp"); !exp.empty()) {
    auto t = ParseRfc3339(exp);
    if (!t) {
      return absl::UnauthenticatedError(name + ": status.expirationTimestamp \"" + exp +
                                        "\" is not an RFC 3339 time");
    }
    cred.expiration = *t;
  }
  return cred;
}

}  // namespace kfaas::kube
