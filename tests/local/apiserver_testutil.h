// Helpers for the local API server's tests: scratch directories, a started server, a small
// synchronous HTTP(S) client, and running kubectl.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "local/apiserver/api_server.h"

namespace kfaas::testing {

using Json = nlohmann::json;

// A directory under $KFAAS_TEST_TMP (or /tmp) removed at destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("KFAAS_TEST_TMP");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/apiserver-test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = mkdtemp(buf.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Polls `cond` every 10ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& cond,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// A started server on free ports with its home in a scratch directory.
struct TestServer {
  explicit TestServer(bool https = true, bool http = true,
                      std::function<void(local::ApiServer::Options&)> tweak = nullptr) {
    local::ApiServer::Options o;
    o.home = dir.path() + "/home";
    o.secure_port = https ? 0 : -1;
    o.insecure_port = http ? 0 : -1;
    o.threads = 2;
    o.bookmark_interval = std::chrono::milliseconds(200);
    if (tweak) tweak(o);
    server = std::make_unique<local::ApiServer>(o);
    status = server->Start();
  }
  ~TestServer() { server->Stop(); }
  TempDir dir;
  std::unique_ptr<local::ApiServer> server;
  absl::Status status;
};

struct HttpResult {
  int code = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names (last value wins)
  std::string error;                           // transport error
  Json json() const { return Json::parse(body, nullptr, false); }
};

// One synchronous request. `ca_pem` non-empty: HTTPS verified against it.
inline HttpResult Request(uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body = "",
                          std::map<std::string, std::string> headers = {},
                          const std::string& ca_pem = "", const std::string& client_cert = "",
                          const std::string& client_key = "") {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace bhttp = boost::beast::http;
  HttpResult out;
  try {
    asio::io_context ioc;
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::user_agent, "apiserver-test/v0");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.body() = body;
      if (!headers.count("Content-Type")) req.set(bhttp::field::content_type, "application/json");
    }
    req.prepare_payload();
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    if (!ca_pem.empty()) {
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.add_certificate_authority(asio::buffer(ca_pem));
      ctx.set_verify_mode(asio::ssl::verify_peer);
      if (!client_cert.empty()) {
        ctx.use_certificate(asio::buffer(client_cert), asio::ssl::context::pem);
        ctx.use_private_key(asio::buffer(client_key), asio::ssl::context::pem);
      }
      beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
      beast::get_lowest_layer(s).connect(ep);
      beast::get_lowest_layer(s).expires_after(std::chrono::seconds(20));
      s.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
      s.handshake(asio::ssl::stream_base::client);
      bhttp::write(s, req);
      bhttp::read(s, buf, parser);
    } else {
      beast::tcp_stream s(ioc);
      s.connect(ep);
      s.expires_after(std::chrono::seconds(20));
      bhttp::write(s, req);
      bhttp::read(s, buf, parser);
    }
    auto res = parser.release();
    out.code = res.result_int();
    out.body = res.body();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// A streaming GET (watch) on the plain port: calls `on_line` for each line until it returns
// false, the server ends the stream, or `timeout`. `accept`, when set, is sent as the Accept
// header (e.g. a Table watch).
inline int StreamLines(uint16_t port, const std::string& target,
                       const std::function<bool(const std::string&)>& on_line,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       const std::string& accept = "") {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace bhttp = boost::beast::http;
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  s.expires_after(timeout);
  bhttp::request<bhttp::empty_body> req(bhttp::verb::get, target, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  if (!accept.empty()) req.set(bhttp::field::accept, accept);
  bhttp::write(s, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::buffer_body> p;
  bhttp::read_header(s, buf, p);
  int code = p.get().result_int();
  std::string pending;
  char chunk[8192];
  beast::error_code ec;
  while (!p.is_done()) {
    p.get().body().data = chunk;
    p.get().body().size = sizeof(chunk);
    bhttp::read_some(s, buf, p, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) break;
    pending.append(chunk, sizeof(chunk) - p.get().body().size);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!on_line(line)) return code;
    }
  }
  return code;
}

// Runs a command with /bin/sh, returning exit code and combined output.
struct CommandResult {
  int code = -1;
  std::string output;
};

inline CommandResult Run(const std::string& cmd) {
  CommandResult r;
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace kfaas::testing
