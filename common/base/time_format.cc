#include "common/base/time_format.h"

#include <cstdio>
#include <ctime>

namespace kfaas {

std::string FormatRfc3339(WallTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatRfc3339Micro(WallTime t) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  if (since < secs) secs -= std::chrono::seconds(1);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  std::time_t tt = static_cast<std::time_t>(secs.count());
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%06lldZ", static_cast<long long>(micros));
  return buf;
}

std::optional<WallTime> ParseRfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20) return std::nullopt;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) {
    return std::nullopt;
  }
  size_t pos = 19;
  long long micros = 0;
  if (pos < str.size() && str[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (str[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    while (digits++ < 6) micros *= 10;
  }
  long offset = 0;
  if (pos < str.size() && (str[pos] == '+' || str[pos] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = (oh * 3600 + om * 60) * (str[pos] == '+' ? 1 : -1);
  } else if (pos >= str.size() || (str[pos] != 'Z' && str[pos] != 'z')) {
    return std::nullopt;
  }
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm) - offset;
  return std::chrono::system_clock::from_time_t(tt) + std::chrono::microseconds(micros);
}

std::string HumanDuration(std::chrono::seconds d) {
  long long s = d.count();
  if (s < 0) s = 0;
  char buf[32];
  if (s < 60 * 2) {
    std::snprintf(buf, sizeof(buf), "%llds", s);
  } else if (s < 60 * 10) {
    long long m = s / 60, rs = s % 60;
    if (rs == 0)
      std::snprintf(buf, sizeof(buf), "%lldm", m);
    else
      std::snprintf(buf, sizeof(buf), "%lldm%llds", m, rs);
  } else if (s < 3600 * 3) {
    std::snprintf(buf, sizeof(buf), "%lldm", s / 60);
  } else if (s < 3600 * 8) {
    long long h = s / 3600, m = (s % 3600) / 60;
    if (m == 0)
      std::snprintf(buf, sizeof(buf), "%lldh", h);
    else
      std::snprintf(buf, sizeof(buf), "%lldh%lldm", h, m);
  } else if (s < 3600 * 48) {
    std::snprintf(buf, sizeof(buf), "%lldh", s / 3600);
  } else if (s < 3600 * 24 * 8) {
    long long dd = s / 86400, h = (s % 86400) / 3600;
    if (h == 0)
      std::snprintf(buf, sizeof(buf), "%lldd", dd);
    else
      std::snprintf(buf, sizeof(buf), "%lldd%lldh", dd, h);
  } else if (s < 3600LL * 24 * 365 * 2) {
    std::snprintf(buf, sizeof(buf), "%lldd", s / 86400);
  } else if (s < 3600LL * 24 * 365 * 8) {
    long long years = s / (86400 * 365), dd = (s % (86400 * 365)) / 86400;
    if (dd == 0)
      std::snprintf(buf, sizeof(buf), "%lldy", years);
    else
      std::snprintf(buf, sizeof(buf), "%lldy%lldd", years, dd);
  } else {
    std::snprintf(buf, sizeof(buf), "%lldy", s / (86400 * 365));
  }
  return buf;
}

}  // namespace kfaas
