// A raw HTTP client for hostile-input tests: sends bytes exactly as given (in pieces, with a gap
// between them for slow clients), then reads until the peer closes or a timeout.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace kfaas::reliability {

struct Exchange {
  std::string response;         // every byte received
  bool closed_by_peer = false;  // EOF, reset or a refused write before the timeout
  std::chrono::milliseconds elapsed{0};
  // The first response's status code; 0 when none arrived.
  int Status() const {
    if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
    return std::atoi(response.substr(9, 3).c_str());
  }
};

struct RawOptions {
  std::chrono::milliseconds gap{0};         // between pieces
  std::chrono::milliseconds timeout{5000};  // overall
  bool half_close = false;                  // shutdown(SHUT_WR) after the last piece
};

inline Exchange RawHttp(uint16_t port, const std::vector<std::string>& pieces,
                        RawOptions opts = {}) {
  Exchange ex;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + opts.timeout;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    ex.closed_by_peer = true;
    return ex;
  }
  // Reads what is available within `wait_ms`; false once the peer closed.
  auto drain = [&](int wait_ms) {
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, wait_ms) > 0) {
      char buf[65536];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      ex.response.append(buf, static_cast<size_t>(n));
      wait_ms = 0;
    }
    return true;
  };
  bool open = true;
  for (size_t i = 0; i < pieces.size() && open; ++i) {
    if (i > 0 && opts.gap.count() > 0) {
      auto until = std::chrono::steady_clock::now() + opts.gap;
      while (open && std::chrono::steady_clock::now() < until) open = drain(5);
      if (!open) break;
    }
    size_t off = 0;
    while (open && off < pieces[i].size()) {
      pollfd p{fd, POLLOUT | POLLIN, 0};
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0 || poll(&p, 1, left) <= 0) break;
      if (p.revents & POLLIN) open = drain(0);
      if (!open) break;
      if (p.revents & POLLOUT) {
        ssize_t n =
            send(fd, pieces[i].data() + off, pieces[i].size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN) open = false;
        if (n > 0) off += static_cast<size_t>(n);
      } else if (p.revents & (POLLERR | POLLHUP)) {
        open = false;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  if (open && opts.half_close) shutdown(fd, SHUT_WR);
  while (open) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) break;
    open = drain(0);
  }
  if (!open) {
    drain(50);  // a response that raced a reset
    ex.closed_by_peer = true;
  }
  close(fd);
  ex.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return ex;
}

// One byte per piece: a slowloris client.
inline std::vector<std::string> Bytewise(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

}  // namespace kfaas::reliability
