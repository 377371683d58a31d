#include "activator/net/http_util.h"

#include <cstdio>

namespace kfaas::activator::net {

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string ErrorJson(int status, std::string_view message, std::string_view function,
                      std::string_view reason) {
  std::string out = "{\"error\":\"";
  out += JsonEscape(message);
  out += "\",\"code\":";
  out += std::to_string(status);
  if (!reason.empty()) {
    out += ",\"reason\":\"";
    out += JsonEscape(reason);
    out += '"';
  }
  if (!function.empty()) {
    out += ",\"function\":\"";
    out += JsonEscape(function);
    out += '"';
  }
  out += "}\n";
  return out;
}

}  // namespace kfaas::activator::net
