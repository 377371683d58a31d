// Helpers for the node's tests: scratch directories, a tiny HTTP client, process checks.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace kfaas::node::testing {

// A fresh directory under $KFAAS_TEST_TMP (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("KFAAS_TEST_TMP");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/kfaas-node.XXXXXX";
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : "/tmp";
  }
  ~TempDir() {
    if (path_.size() > 5) {
      std::string cmd = "rm -rf '" + path_ + "'";
      int ignored = system(cmd.c_str());
      (void)ignored;
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpResult {
  int code = 0;  // 0: connection failed
  std::string body;
  std::string headers;
};

// One HTTP/1.1 request with Connection: close to 127.0.0.1:port.
inline HttpResult HttpGet(uint16_t port, const std::string& path, const std::string& method = "GET",
                          const std::string& body = "") {
  HttpResult r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t sp = resp.find(' ');
  size_t hdr_end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos) return r;
  r.code = atoi(resp.c_str() + sp + 1);
  r.headers = resp.substr(0, hdr_end);
  r.body = resp.substr(hdr_end + 4);
  return r;
}

// True while a process with this pid exists and is not a zombie.
inline bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close_paren = content.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= content.size()) return false;
  return content[close_paren + 2] != 'Z';
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The build and source trees: from the environment, else compiled in (tests/local/node.cmake).
inline std::string BinaryDir() {
  const char* bin = getenv("KFAAS_BINARY_DIR");
  return bin && *bin ? bin : KFAAS_NODE_TEST_BINARY_DIR;
}
inline std::string SourceDir() {
  const char* src = getenv("KFAAS_SOURCE_DIR");
  return src && *src ? src : KFAAS_NODE_TEST_SOURCE_DIR;
}

// build/examples/hello/hello-function.
inline std::string HelloFunction() { return BinaryDir() + "/examples/hello/hello-function"; }

}  // namespace kfaas::node::testing
