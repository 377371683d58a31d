#include "local/apiserver/go_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "common/kube/selector.h"

namespace kfaas::local::gofmt {
namespace {

// Shortest round-trip decimal digits and the decimal exponent: v = 0.d1d2d3... * 10^dp.
bool ShortestDigits(double v, std::string* digits, int* dp) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), std::fabs(v), std::chars_format::scientific);
  if (res.ec != std::errc()) return false;
  std::string s(buf, res.ptr);
  size_t e = s.find('e');
  if (e == std::string::npos) return false;
  std::string mant = s.substr(0, e);
  int exp = std::atoi(s.c_str() + e + 1);
  digits->clear();
  for (char c : mant) {
    if (c != '.') digits->push_back(c);
  }
  while (digits->size() > 1 && digits->back() == '0') digits->pop_back();
  *dp = exp + 1;
  return true;
}

std::string FormatE(bool neg, const std::string& d, int dp) {
  std::string out = neg ? "-" : "";
  out += d[0];
  if (d.size() > 1) out += "." + d.substr(1);
  int exp = dp - 1;
  out += exp < 0 ? "e-" : "e+";
  int a = std::abs(exp);
  if (a < 10) out += "0";
  out += std::to_string(a);
  return out;
}

std::string FormatF(bool neg, const std::string& d, int dp) {
  std::string out = neg ? "-" : "";
  if (dp <= 0) {
    out += "0." + std::string(-dp, '0') + d;
  } else if (static_cast<size_t>(dp) >= d.size()) {
    out += d + std::string(dp - d.size(), '0');
  } else {
    out += d.substr(0, dp) + "." + d.substr(dp);
  }
  return out;
}

}  // namespace

std::string FloatV(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  std::string d;
  int dp;
  if (!ShortestDigits(v, &d, &dp)) return "0";
  int exp = dp - 1;
  if (exp < -4 || exp >= 6) return FormatE(v < 0, d, dp);
  return FormatF(v < 0, d, dp);
}

std::string JsonFloat(double v) {
  if (std::isnan(v) || std::isinf(v)) return "null";
  if (v == 0) return "0";
  double a = std::fabs(v);
  std::string d;
  int dp;
  if (!ShortestDigits(v, &d, &dp)) return "0";
  if (a < 1e-6 || a >= 1e21) {
    // encoding/json writes e-07 as e-7.
    std::string s = FormatE(v < 0, d, dp);
    size_t e = s.find('e');
    if (e != std::string::npos && e + 2 < s.size() && s[e + 2] == '0' && s.size() == e + 4) {
      s.erase(e + 2, 1);
    }
    return s;
  }
  return FormatF(v < 0, d, dp);
}

bool IsInt(const Json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return true;
  if (v.is_number_unsigned()) {
    return v.get<std::uint64_t>() <=
           static_cast<std::uint64_t>(std::numeric_limits<long long>::max());
  }
  return false;
}

long long AsInt(const Json& v) {
  if (v.is_number_unsigned()) return static_cast<long long>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return v.get<long long>();
  return 0;
}

double AsDouble(const Json& v) {
  if (v.is_number_unsigned()) return static_cast<double>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return static_cast<double>(v.get<long long>());
  if (v.is_number_float()) return v.get<double>();
  return 0;
}

std::string SharpV(const Json& v) {
  // Iterative would be nicer, but error values are bounded by the schema depth.
  switch (v.type()) {
    case Json::value_t::null:
      return "interface {}(nil)";
    case Json::value_t::string:
      return kube::GoQuote(v.get<std::string>());
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return IsInt(v) ? std::to_string(AsInt(v)) : FloatV(AsDouble(v));
    case Json::value_t::number_float:
      return FloatV(v.get<double>());
    case Json::value_t::object: {
      std::string out = "map[string]interface {}{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += kube::GoQuote(it.key()) + ":" + SharpV(it.value());
      }
      return out + "}";
    }
    case Json::value_t::array: {
      std::string out = "[]interface {}{";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        out += SharpV(v[i]);
      }
      return out + "}";
    }
    default:
      return "<invalid>";
  }
}

std::string ErrorValue(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::string:
      return kube::GoQuote(v.get<std::string>());
    case Json::value_t::object:
    case Json::value_t::array:
      return SharpV(v);
    default:
      return SharpV(v);
  }
}

}  // namespace kfaas::local::gofmt
