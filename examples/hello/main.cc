// hello-function: the example kfaas function in C++. A tiny HTTP/1.1 server on plain sockets and
// epoll, single-threaded, built to start in about a millisecond (no runtime to warm up).
//
//   PORT=8080 GREETING=hi hello-function
//
// Endpoints:
//   GET  /healthz        200 "ok" (the readiness probe)
//   GET  /sleep?ms=N     answers after N milliseconds without blocking other requests
//   POST <any path>      echoes the request body (and its Content-Type)
//   GET  <any other>     the greeting: $GREETING (default "Hello from kfaas!") and a newline
// Every response carries `X-Kfaas-Instance: $HOSTNAME` (the pod name under kfaas-local).
//
// Keep-alive and pipelining are supported; request bodies may be Content-Length or chunked.
// On SIGTERM (or SIGINT) it stops accepting, finishes the requests in flight (including
// sleeping ones), closes idle connections and exits 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

struct Request {
  std::string method, target, content_type, body;
  bool keep_alive = true;
};

struct Conn {
  int fd = -1;
  uint64_t id = 0;  // fds are reused; timers name connections by id
  std::string in;
  std::string out;
  size_t out_off = 0;
  bool busy = false;         // a response is pending (sleeping)
  bool close_after = false;  // close once `out` is flushed
  bool want_write = false;
};

class Server {
 public:
  Server(int listen_fd, int sig_fd, int epoll_fd, std::string greeting, std::string instance)
      : listen_fd_(listen_fd),
        sig_fd_(sig_fd),
        ep_(epoll_fd),
        greeting_(std::move(greeting)),
        instance_(std::move(instance)) {}

  int Run() {
    epoll_event events[64];
    for (;;) {
      if (draining_ && conns_.empty()) return 0;
      int timeout = -1;
      if (!timers_.empty()) {
        int64_t d = timers_.begin()->first - NowMs();
        timeout = d < 0 ? 0 : static_cast<int>(d);
      }
      int n = epoll_wait(ep_, events, 64, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        perror("epoll_wait");
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          Accept();
        } else if (fd == sig_fd_) {
          signalfd_siginfo si;
          while (read(sig_fd_, &si, sizeof si) == sizeof si) {
          }
          BeginDrain();
        } else {
          auto it = conns_.find(fd);
          if (it == conns_.end()) continue;
          Conn& c = *it->second;
          if (events[i].events & (EPOLLERR | EPOLLHUP)) {
            Close(c);
            continue;
          }
          if (events[i].events & EPOLLOUT) Flush(c);
          if (conns_.count(fd) && (events[i].events & EPOLLIN)) Read(c);
        }
      }
      FireTimers();
    }
  }

 private:
  void Accept() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a transient error: the next event retries
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->id = ++next_id_;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.fd = fd;
      epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      conns_[fd] = std::move(c);
    }
  }

  void BeginDrain() {
    if (draining_) return;
    draining_ = true;
    fprintf(stderr, "hello-function: SIGTERM, finishing %zu connection(s)\n", conns_.size());
    epoll_ctl(ep_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    close(listen_fd_);
    // Idle connections go now; busy ones close after their current response.
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = *it->second;
      ++it;
      if (!c.busy && c.out_off >= c.out.size() && c.in.empty()) {
        Close(c);
      } else {
        c.close_after = true;
      }
    }
  }

  void Read(Conn& c) {
    char buf[16384];
    for (;;) {
      ssize_t r = read(c.fd, buf, sizeof buf);
      if (r > 0) {
        c.in.append(buf, static_cast<size_t>(r));
        if (c.in.size() > kMaxHeaderBytes + kMaxBodyBytes) break;
        continue;
      }
      if (r == 0) {  // peer closed its side: answer what is complete, then close
        c.close_after = true;
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      Close(c);
      return;
    }
    Process(c);
  }

  // Handles complete requests in order; at most one pending (sleeping) response per connection.
  void Process(Conn& c) {
    int fd = c.fd;
    while (conns_.count(fd) && !c.busy) {
      Request req;
      int err = 0;
      size_t used = Parse(c.in, &req, &err);
      if (err) {
        Respond(c, err, err == 413 ? "request body too large\n" : "bad request\n", "text/plain",
                false);
        return;
      }
      if (used == 0) break;
      c.in.erase(0, used);
      Handle(c, req);
    }
    if (conns_.count(fd) && !c.busy && c.close_after && c.out_off >= c.out.size()) Close(c);
  }

  // Returns bytes consumed by one complete request (0 = need more), or sets *err.
  static size_t Parse(const std::string& in, Request* req, int* err) {
    size_t hdr_end = in.find("\r\n\r\n");
    if (hdr_end == std::string::npos) {
      if (in.size() > kMaxHeaderBytes) *err = 431;
      return 0;
    }
    std::string_view head(in.data(), hdr_end);
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) {
      *err = 400;
      return 0;
    }
    req->method = std::string(line.substr(0, sp1));
    req->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string_view version = line.substr(sp2 + 1);
    req->keep_alive = version != "HTTP/1.0";
    int64_t content_length = 0;
    bool chunked = false;
    size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string_view::npos) e = head.size();
      std::string_view h = head.substr(pos, e - pos);
      pos = e + 2;
      size_t colon = h.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = h.substr(0, colon);
      std::string_view value = Trim(h.substr(colon + 1));
      if (IEquals(name, "content-length")) {
        content_length = strtoll(std::string(value).c_str(), nullptr, 10);
        if (content_length < 0) {
          *err = 400;
          return 0;
        }
      } else if (IEquals(name, "transfer-encoding")) {
        chunked = value.find("chunked") != std::string_view::npos;
      } else if (IEquals(name, "connection")) {
        if (IEquals(value, "close")) req->keep_alive = false;
        if (IEquals(value, "keep-alive")) req->keep_alive = true;
      } else if (IEquals(name, "content-type")) {
        req->content_type = std::string(value);
      }
    }
    size_t body_start = hdr_end + 4;
    if (!chunked) {
      if (static_cast<uint64_t>(content_length) > kMaxBodyBytes) {
        *err = 413;
        return 0;
      }
      if (in.size() - body_start < static_cast<size_t>(content_length)) return 0;
      req->body = in.substr(body_start, static_cast<size_t>(content_length));
      return body_start + static_cast<size_t>(content_length);
    }
    size_t p = body_start;
    for (;;) {
      size_t e = in.find("\r\n", p);
      if (e == std::string::npos) return 0;
      size_t size = strtoull(in.substr(p, e - p).c_str(), nullptr, 16);
      p = e + 2;
      if (size == 0) {  // trailers end with an empty line
        size_t end = in.find("\r\n\r\n", p - 2);
        if (end == std::string::npos) return 0;
        return end + 4;
      }
      if (req->body.size() + size > kMaxBodyBytes) {
        *err = 413;
        return 0;
      }
      if (in.size() < p + size + 2) return 0;
      req->body.append(in, p, size);
      p += size + 2;
    }
  }

  void Handle(Conn& c, const Request& req) {
    std::string_view target = req.target;
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query =
        path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
    bool keep = req.keep_alive;
    if (path == "/healthz") {
      Respond(c, 200, "ok\n", "text/plain", keep);
    } else if (path == "/sleep") {
      int64_t ms = 0;
      size_t at = query.find("ms=");
      if (at != std::string_view::npos)
        ms = strtoll(std::string(query.substr(at + 3)).c_str(), nullptr, 10);
      if (ms < 0) ms = 0;
      c.busy = true;
      c.close_after = c.close_after || !keep;
      timers_.emplace(NowMs() + ms, Timer{c.fd, c.id, ms});
    } else if (req.method == "POST" || req.method == "PUT") {
      Respond(c, 200, req.body,
              req.content_type.empty() ? "application/octet-stream" : req.content_type, keep);
    } else {
      Respond(c, 200, greeting_ + "\n", "text/plain", keep);
    }
  }

  void FireTimers() {
    int64_t now = NowMs();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto [fd, id, ms] = timers_.begin()->second;
      timers_.erase(timers_.begin());
      auto it = conns_.find(fd);
      if (it == conns_.end() || it->second->id != id) continue;
      Conn& c = *it->second;
      c.busy = false;
      Respond(c, 200, "slept " + std::to_string(ms) + " ms\n", "text/plain", !c.close_after);
      if (conns_.count(fd)) Process(c);
    }
  }

  void Respond(Conn& c, int code, const std::string& body, const std::string& type, bool keep) {
    const char* reason = code == 200   ? "OK"
                         : code == 413 ? "Payload Too Large"
                         : code == 431 ? "Request Header Fields Too Large"
                                       : "Bad Request";
    if (!keep || draining_) c.close_after = true;
    c.out += "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
             "\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\nX-Kfaas-Instance: " + instance_ + (c.close_after ? "\r\nConnection: close" : "") +
             "\r\n\r\n" + body;
    if (code != 200) c.in.clear();
    Flush(c);
  }

  void Flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t w = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w > 0) {
        c.out_off += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetWrite(c, true);
        return;
      }
      Close(c);
      return;
    }
    c.out.clear();
    c.out_off = 0;
    SetWrite(c, false);
    if (c.close_after && !c.busy) Close(c);
  }

  void SetWrite(Conn& c, bool on) {
    if (c.want_write == on) return;
    c.want_write = on;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void Close(Conn& c) {
    int fd = c.fd;
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns_.erase(fd);  // destroys c
  }

  int listen_fd_, sig_fd_, ep_;
  std::string greeting_, instance_;
  bool draining_ = false;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  struct Timer {
    int fd;
    uint64_t id;
    int64_t ms;
  };
  std::multimap<int64_t, Timer> timers_;  // deadline -> sleeping request
  uint64_t next_id_ = 0;
};

}  // namespace

int main() {
  const char* port_env = getenv("PORT");
  long port = port_env ? strtol(port_env, nullptr, 10) : 8080;
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "hello-function: PORT=%s is not a port number (1-65535)\n", port_env);
    return 2;
  }
  const char* greeting = getenv("GREETING");
  const char* instance = getenv("HOSTNAME");

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const char* bind_env = getenv("BIND_ADDRESS");
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind_env && inet_pton(AF_INET, bind_env, &addr.sin_addr) != 1) {
    fprintf(stderr, "hello-function: BIND_ADDRESS=%s is not an IPv4 address\n", bind_env);
    return 2;
  }
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(lfd, 1024) < 0) {
    fprintf(stderr, "hello-function: cannot listen on port %ld: %s\n", port, strerror(errno));
    return 1;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = sfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

  fprintf(stderr, "hello-function: listening on port %ld\n", port);
  Server server(lfd, sfd, ep, greeting && *greeting ? greeting : "Hello from kfaas!",
                instance ? instance : "");
  int rc = server.Run();
  fprintf(stderr, "hello-function: exiting\n");
  return rc;
}
