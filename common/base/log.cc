#include "common/base/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace kfaas::log {
namespace {
std::atomic<int> g_verbosity{0};
std::atomic<int> g_min_severity{0};
}  // namespace

void SetVerbosity(int v) { g_verbosity.store(v, std::memory_order_relaxed); }
int Verbosity() { return g_verbosity.load(std::memory_order_relaxed); }
void SetMinSeverity(Severity s) {
  g_min_severity.store(static_cast<int>(s), std::memory_order_relaxed);
}
bool Enabled(Severity s) {
  return static_cast<int>(s) >= g_min_severity.load(std::memory_order_relaxed);
}

bool SetLevelFromString(std::string_view level) {
  if (level == "debug") {
    SetMinSeverity(Severity::kInfo);
    SetVerbosity(2);
  } else if (level == "info") {
    SetMinSeverity(Severity::kInfo);
  } else if (level == "warning" || level == "warn") {
    SetMinSeverity(Severity::kWarning);
  } else if (level == "error") {
    SetMinSeverity(Severity::kError);
  } else {
    return false;
  }
  return true;
}

Message::Message(Severity s, const char* file, int line) : severity_(s) {
  static const char kLetters[] = {'I', 'W', 'E', 'F'};
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  const char* base = file;
  for (const char* p = file; *p; ++p) {
    if (*p == '/') base = p + 1;
  }
  char prefix[96];
  std::snprintf(prefix, sizeof(prefix), "%c%02d%02d %02d:%02d:%02d.%06ld %d %s:%d] ",
                kLetters[static_cast<int>(s)], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, static_cast<long>(tv.tv_usec), static_cast<int>(getpid()), base, line);
  os_ << prefix;
}

Message::~Message() {
  os_ << '\n';
  std::string s = os_.str();
  ssize_t unused = ::write(STDERR_FILENO, s.data(), s.size());
  (void)unused;
  if (severity_ == Severity::kFatal) std::abort();
}

}  // namespace kfaas::log
