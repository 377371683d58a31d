#include "operator/api/function.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "absl/status/status.h"

namespace kfaas::op {
namespace {

std::string Describe(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  return s;
}

absl::Status TypeError(const std::string& field, const char* want, const Json& got) {
  return absl::InvalidArgumentError(field + ": must be " + want + ", not " + Describe(got));
}

// Each Get* leaves `out` unchanged (the default) when the field is absent or null.
absl::Status GetString(const Json& obj, const char* key, const std::string& field,
                       std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return TypeError(field, "a string", *it);
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetInt(const Json& obj, const char* key, const std::string& field, int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}) {
    return TypeError(field, "an integer (at most 2^63-1)", *it);
  }
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
    return absl::OkStatus();
  }
  if (it->is_number_float()) {
    double d = it->get<double>();
    // Out of int64 range (or NaN), the cast would be undefined behaviour.
    if (!(d >= -0x1p63 && d < 0x1p63)) return TypeError(field, "an integer (at most 2^63-1)", *it);
    if (d == static_cast<double>(static_cast<int64_t>(d))) {
      *out = static_cast<int64_t>(d);
      return absl::OkStatus();
    }
  }
  return TypeError(field, "an integer", *it);
}

absl::Status GetStrings(const Json& obj, const char* key, const std::string& field,
                        std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return TypeError(field, "a list of strings", *it);
  out->clear();
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& v = (*it)[i];
    if (!v.is_string()) {
      return TypeError(field + "[" + std::to_string(i) + "]", "a string", v);
    }
    out->push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status GetObject(const Json& obj, const char* key, const std::string& field,
                       const Json** out) {
  static const Json kEmpty = Json::object();
  *out = &kEmpty;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return TypeError(field, "an object", *it);
  *out = &*it;
  return absl::OkStatus();
}

#define KFAAS_RETURN_IF_ERROR(expr) \
  do {                              \
    absl::Status _s = (expr);       \
    if (!_s.ok()) return _s;        \
  } while (false)

absl::Status ParseQuantities(const Json& obj, const std::string& field) {
  for (const auto& [name, q] : obj.items()) {
    if (!q.is_string() && !q.is_number()) {
      return TypeError(field + "." + name, "a quantity such as \"100m\" or 1", q);
    }
  }
  return absl::OkStatus();
}

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsDns1123Label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsAlnumLower(s.front()) || !IsAlnumLower(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnumLower(c) || c == '-'; });
}

}  // namespace

bool IsDns1035Label(const std::string& s) {
  return IsDns1123Label(s) && s.front() >= 'a' && s.front() <= 'z';
}

bool IsDns1123Subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t pos = 0;
  while (true) {
    size_t dot = s.find('.', pos);
    std::string label = s.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (!IsDns1123Label(label)) return false;
    if (dot == std::string::npos) return true;
    pos = dot + 1;
  }
}

bool IsEnvVarName(const std::string& s) {
  if (s.empty()) return false;
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.' ||
           (!first && c >= '0' && c <= '9');
  };
  if (!ok(s[0], true)) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!ok(s[i], false)) return false;
  }
  return true;
}

absl::StatusOr<FunctionSpec> ParseFunctionSpec(const Json& spec) {
  FunctionSpec out;
  if (spec.is_null()) return out;
  if (!spec.is_object()) return TypeError("spec", "an object", spec);
  KFAAS_RETURN_IF_ERROR(GetString(spec, "image", "spec.image", &out.image));
  KFAAS_RETURN_IF_ERROR(GetStrings(spec, "command", "spec.command", &out.command));
  KFAAS_RETURN_IF_ERROR(GetStrings(spec, "args", "spec.args", &out.args));
  if (auto it = spec.find("env"); it != spec.end() && !it->is_null()) {
    if (!it->is_array()) return TypeError("spec.env", "a list of {name, value}", *it);
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& e = (*it)[i];
      std::string field = "spec.env[" + std::to_string(i) + "]";
      if (!e.is_object()) return TypeError(field, "an object {name, value}", e);
      EnvVar var;
      KFAAS_RETURN_IF_ERROR(GetString(e, "name", field + ".name", &var.name));
      KFAAS_RETURN_IF_ERROR(GetString(e, "value", field + ".value", &var.value));
      out.env.push_back(std::move(var));
    }
  }
  KFAAS_RETURN_IF_ERROR(GetInt(spec, "port", "spec.port", &out.port));
  const Json* resources;
  KFAAS_RETURN_IF_ERROR(GetObject(spec, "resources", "spec.resources", &resources));
  for (const char* part : {"requests", "limits"}) {
    const Json* q;
    std::string field = std::string("spec.resources.") + part;
    KFAAS_RETURN_IF_ERROR(GetObject(*resources, part, field, &q));
    KFAAS_RETURN_IF_ERROR(ParseQuantities(*q, field));
    if (!q->empty()) out.resources[part] = *q;
  }
  KFAAS_RETURN_IF_ERROR(
      GetString(spec, "readinessPath", "spec.readinessPath", &out.readiness_path));
  KFAAS_RETURN_IF_ERROR(
      GetInt(spec, "timeoutSeconds", "spec.timeoutSeconds", &out.timeout_seconds));
  KFAAS_RETURN_IF_ERROR(GetInt(spec, "concurrency", "spec.concurrency", &out.concurrency));
  const Json* scale;
  KFAAS_RETURN_IF_ERROR(GetObject(spec, "scale", "spec.scale", &scale));
  KFAAS_RETURN_IF_ERROR(GetInt(*scale, "min", "spec.scale.min", &out.scale.min));
  KFAAS_RETURN_IF_ERROR(GetInt(*scale, "max", "spec.scale.max", &out.scale.max));
  KFAAS_RETURN_IF_ERROR(GetInt(*scale, "target", "spec.scale.target", &out.scale.target));
  KFAAS_RETURN_IF_ERROR(GetInt(*scale, "idleWindowSeconds", "spec.scale.idleWindowSeconds",
                               &out.scale.idle_window_seconds));
  KFAAS_RETURN_IF_ERROR(
      GetString(*scale, "autoscaler", "spec.scale.autoscaler", &out.scale.autoscaler));
  KFAAS_RETURN_IF_ERROR(GetStrings(spec, "hosts", "spec.hosts", &out.hosts));
  return out;
}

absl::StatusOr<Function> ParseFunction(const Json& obj) {
  if (!obj.is_object()) return TypeError("object", "an object", obj);
  Function fn;
  const Json* md;
  KFAAS_RETURN_IF_ERROR(GetObject(obj, "metadata", "metadata", &md));
  KFAAS_RETURN_IF_ERROR(GetString(*md, "name", "metadata.name", &fn.name));
  KFAAS_RETURN_IF_ERROR(GetString(*md, "namespace", "metadata.namespace", &fn.ns));
  KFAAS_RETURN_IF_ERROR(GetString(*md, "uid", "metadata.uid", &fn.uid));
  KFAAS_RETURN_IF_ERROR(GetInt(*md, "generation", "metadata.generation", &fn.generation));
  KFAAS_RETURN_IF_ERROR(
      GetString(*md, "resourceVersion", "metadata.resourceVersion", &fn.resource_version));
  KFAAS_RETURN_IF_ERROR(
      GetString(*md, "creationTimestamp", "metadata.creationTimestamp", &fn.creation_timestamp));
  if (auto it = md->find("deletionTimestamp"); it != md->end() && !it->is_null()) {
    fn.being_deleted = true;
  }
  auto spec = ParseFunctionSpec(obj.contains("spec") ? obj["spec"] : Json());
  if (!spec.ok()) return spec.status();
  fn.spec = std::move(*spec);
  if (auto it = obj.find("status"); it != obj.end() && it->is_object()) fn.status = *it;
  return fn;
}

Json SpecToJson(const FunctionSpec& s) {
  Json j = {{"image", s.image},
            {"port", s.port},
            {"timeoutSeconds", s.timeout_seconds},
            {"concurrency", s.concurrency},
            {"scale",
             {{"min", s.scale.min},
              {"max", s.scale.max},
              {"target", s.scale.target},
              {"idleWindowSeconds", s.scale.idle_window_seconds},
              {"autoscaler", s.scale.autoscaler}}}};
  if (!s.command.empty()) j["command"] = s.command;
  if (!s.args.empty()) j["args"] = s.args;
  if (!s.env.empty()) {
    j["env"] = Json::array();
    for (const auto& e : s.env) j["env"].push_back({{"name", e.name}, {"value", e.value}});
  }
  if (!s.resources.empty()) j["resources"] = s.resources;
  if (!s.readiness_path.empty()) j["readinessPath"] = s.readiness_path;
  if (!s.hosts.empty()) j["hosts"] = s.hosts;
  return j;
}

HostClaim ClaimOf(const Function& fn) {
  return {fn.ns, fn.name, fn.uid, fn.creation_timestamp, fn.spec.hosts};
}

HostClaim ClaimFromObject(const Json& obj) {
  HostClaim c;
  if (!obj.is_object()) return c;
  const Json* md;
  if (GetObject(obj, "metadata", "metadata", &md).ok()) {
    (void)GetString(*md, "namespace", "", &c.ns);
    (void)GetString(*md, "name", "", &c.name);
    (void)GetString(*md, "uid", "", &c.uid);
    (void)GetString(*md, "creationTimestamp", "", &c.creation_timestamp);
  }
  const Json* spec;
  if (GetObject(obj, "spec", "spec", &spec).ok()) {
    if (!GetStrings(*spec, "hosts", "", &c.hosts).ok()) c.hosts.clear();
  }
  return c;
}

std::string DefaultHost(const std::string& name, const std::string& ns, const std::string& domain) {
  return name + "." + ns + "." + domain;
}

std::string FunctionUrl(const std::string& name, const std::string& ns, const std::string& domain) {
  return "http://" + DefaultHost(name, ns, domain);
}

bool ClaimedBefore(const HostClaim& a, const HostClaim& b) {
  // RFC 3339 UTC timestamps with the same precision compare as strings; an unknown time
  // sorts last.
  if (a.creation_timestamp != b.creation_timestamp) {
    if (a.creation_timestamp.empty()) return false;
    if (b.creation_timestamp.empty()) return true;
    return a.creation_timestamp < b.creation_timestamp;
  }
  return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
}

std::vector<Problem> Validate(const Function& fn, const ValidationOptions& opts,
                              const std::vector<HostClaim>& others) {
  std::vector<Problem> out;
  const FunctionSpec& s = fn.spec;
  if (!IsDns1035Label(fn.name)) {
    out.push_back(
        {"InvalidName", "the name \"" + fn.name +
                            "\" cannot name the function's Service: use at most 63 lower-case "
                            "letters, digits and '-', starting with a letter"});
  }
  if (s.image.empty()) {
    out.push_back({"MissingImage", "spec.image is required: set the function's container image"});
  }
  if (opts.require_command && s.command.empty()) {
    out.push_back({"MissingCommand",
                   "spec.command is required on kfaas-local, whose node runs it as a local "
                   "process: set spec.command (e.g. [\"/usr/bin/python3\", \"handler.py\"])"});
  }
  if (s.port < 1 || s.port > 65535) {
    out.push_back(
        {"InvalidPort", "spec.port (" + std::to_string(s.port) + ") must be between 1 and 65535"});
  }
  if (s.timeout_seconds < 1 || s.timeout_seconds > kMaxTimeoutSeconds) {
    out.push_back({"InvalidTimeout", "spec.timeoutSeconds (" + std::to_string(s.timeout_seconds) +
                                         ") must be between 1 and 900"});
  }
  if (s.concurrency < 0) {
    out.push_back({"InvalidConcurrency", "spec.concurrency (" + std::to_string(s.concurrency) +
                                             ") must be >= 0 (0 means unlimited)"});
  }
  if (s.scale.min < 0 || s.scale.max < 1 || s.scale.target < 1 || s.scale.idle_window_seconds < 1) {
    out.push_back({"InvalidScale",
                   "spec.scale needs min >= 0, max >= 1, target >= 1 and idleWindowSeconds >= 1"});
  } else if (s.scale.min > s.scale.max) {
    out.push_back({"InvalidScale", "scale.min (" + std::to_string(s.scale.min) +
                                       ") must be <= scale.max (" + std::to_string(s.scale.max) +
                                       "): lower scale.min or raise scale.max"});
  }
  if (s.scale.autoscaler != "kfaas" && s.scale.autoscaler != "keda") {
    out.push_back({"InvalidScale", "spec.scale.autoscaler \"" + s.scale.autoscaler +
                                       "\" is not supported: use \"kfaas\" or \"keda\""});
  }
  {
    std::set<std::string> seen;
    std::vector<std::string> bad, dup, reserved;
    for (const auto& e : s.env) {
      if (!IsEnvVarName(e.name)) bad.push_back(e.name);
      if (e.name == kEnvPort || e.name == kEnvFunctionName || e.name == kEnvFunctionNamespace) {
        reserved.push_back(e.name);
      }
      if (!seen.insert(e.name).second) dup.push_back(e.name);
    }
    auto join = [](const std::vector<std::string>& v) {
      std::string r;
      for (const auto& x : v) r += (r.empty() ? "\"" : ", \"") + x + "\"";
      return r;
    };
    if (!bad.empty()) {
      out.push_back({"InvalidEnv", "invalid environment variable name " + join(bad) +
                                       ": use letters, digits, '_', '-' and '.', not starting "
                                       "with a digit"});
    }
    if (!reserved.empty()) {
      out.push_back({"InvalidEnv", "environment variable " + join(reserved) +
                                       " is set by kfaas: remove it from spec.env (PORT comes "
                                       "from spec.port)"});
    }
    if (!dup.empty()) {
      out.push_back({"InvalidEnv", "environment variable " + join(dup) +
                                       " is listed more than once in spec.env"});
    }
  }
  if (!s.readiness_path.empty() && s.readiness_path[0] != '/') {
    out.push_back({"InvalidReadinessPath",
                   "spec.readinessPath \"" + s.readiness_path + "\" must start with '/'"});
  }
  // Hosts: syntax, then claims. A host is claimed by every Function listing it and by the
  // Function whose generated host it is; the generated host and the oldest claim win.
  HostClaim self = ClaimOf(fn);
  std::set<std::string> seen_hosts;
  for (const auto& h : s.hosts) {
    if (!seen_hosts.insert(h).second) continue;
    if (!IsDns1123Subdomain(h)) {
      out.push_back({"InvalidHost", "spec.hosts entry \"" + h +
                                        "\" is not a valid host name (lower-case DNS name)"});
      continue;
    }
    if (h == DefaultHost(fn.name, fn.ns, opts.domain)) continue;
    for (const auto& o : others) {
      if ((!o.uid.empty() && o.uid == fn.uid) || (o.ns == fn.ns && o.name == fn.name)) continue;
      bool generated = h == DefaultHost(o.name, o.ns, opts.domain);
      bool listed = std::find(o.hosts.begin(), o.hosts.end(), h) != o.hosts.end();
      if (generated || (listed && ClaimedBefore(o, self))) {
        out.push_back({"HostConflict", "host \"" + h + "\" is already routed to Function " + o.ns +
                                           "/" + o.name +
                                           (generated ? " (its generated host)" : " (older)") +
                                           ": remove it from spec.hosts or from that Function"});
        break;
      }
    }
  }
  return out;
}

}  // namespace kfaas::op
