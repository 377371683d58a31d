// Minimal klog-style logging to stderr: "I1129 11:40:00.123456 12345 file.cc:42] message".
//
//   KFAAS_LOG(INFO) << "reconciled " << key;
//   KFAAS_VLOG(2) << "detail";           // printed when the verbosity is >= 2
//
// Thread-safe: each message is written with a single write(2).
#pragma once

#include <atomic>
#include <sstream>
#include <string_view>

namespace kfaas::log {

enum class Severity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Global verbosity for KFAAS_VLOG (default 0) and the minimum severity printed (default INFO).
void SetVerbosity(int v);
int Verbosity();
void SetMinSeverity(Severity s);
// Parses "debug", "info", "warning", "error" (sets severity and, for "debug", verbosity 2).
bool SetLevelFromString(std::string_view level);

class Message {
 public:
  Message(Severity s, const char* file, int line);
  ~Message();
  std::ostream& stream() { return os_; }

 private:
  Severity severity_;
  std::ostringstream os_;
};

bool Enabled(Severity s);

}  // namespace kfaas::log

#define KFAAS_LOG_INFO ::kfaas::log::Severity::kInfo
#define KFAAS_LOG_WARNING ::kfaas::log::Severity::kWarning
#define KFAAS_LOG_ERROR ::kfaas::log::Severity::kError
#define KFAAS_LOG_FATAL ::kfaas::log::Severity::kFatal

#define KFAAS_LOG(sev)                           \
  if (!::kfaas::log::Enabled(KFAAS_LOG_##sev)) { \
  } else                                         \
    ::kfaas::log::Message(KFAAS_LOG_##sev, __FILE__, __LINE__).stream()

#define KFAAS_VLOG(level)                    \
  if (::kfaas::log::Verbosity() < (level)) { \
  } else                                     \
    ::kfaas::log::Message(::kfaas::log::Severity::kInfo, __FILE__, __LINE__).stream()

// Crashes with a message when an invariant is broken (never for bad input from the network).
#define KFAAS_CHECK(cond)                                                              \
  if (cond) {                                                                          \
  } else                                                                               \
    ::kfaas::log::Message(::kfaas::log::Severity::kFatal, __FILE__, __LINE__).stream() \
        << "Check failed: " #cond " "
