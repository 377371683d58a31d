#include "local/node/container_env.h"

#include <algorithm>

#include "absl/status/status.h"
#include "common/base/json_fields.h"

namespace kfaas::node {
namespace {

void Set(EnvList* env, const std::string& name, const std::string& value) {
  for (auto& [k, v] : *env) {
    if (k == name) {
      v = value;
      return;
    }
  }
  env->emplace_back(name, value);
}

std::map<std::string, std::string> ToMap(const EnvList& env) {
  return std::map<std::string, std::string>(env.begin(), env.end());
}

std::string Base64Decode(const std::string& in) {
  static const std::string kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    size_t pos = kChars.find(c);
    if (pos == std::string::npos) continue;  // '=' padding, whitespace
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// "metadata.labels['app']" -> the label value.
absl::StatusOr<std::string> FieldRef(const Json& pod, const std::string& path) {
  const Json& md = json::FieldOrEmptyObject(pod, "metadata");
  auto str = [](const Json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  if (path == "metadata.name") return str(md, "name");
  if (path == "metadata.namespace") return str(md, "namespace");
  if (path == "metadata.uid") return str(md, "uid");
  if (path == "spec.nodeName") return str(json::FieldOrEmptyObject(pod, "spec"), "nodeName");
  if (path == "spec.serviceAccountName") {
    return str(json::FieldOrEmptyObject(pod, "spec"), "serviceAccountName");
  }
  if (path == "status.podIP" || path == "status.hostIP" || path == "status.podIPs" ||
      path == "status.hostIPs") {
    return std::string("127.0.0.1");
  }
  for (const char* map : {"labels", "annotations"}) {
    std::string prefix = std::string("metadata.") + map + "['";
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size() + 2 &&
        path.compare(path.size() - 2, 2, "']") == 0) {
      std::string key = path.substr(prefix.size(), path.size() - prefix.size() - 2);
      Json m = md.value(map, Json::object());
      return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
    }
  }
  return absl::InvalidArgumentError("unsupported fieldRef fieldPath \"" + path + "\"");
}

absl::StatusOr<std::string> KeyRef(const Json& ref, const char* resource,
                                   const ObjectLookup& lookup, bool* skip) {
  std::string name = ref.value("name", "");
  std::string key = ref.value("key", "");
  bool optional = ref.value("optional", false);
  const char* kind = std::string(resource) == "secrets" ? "secret" : "configmap";
  auto obj = lookup(resource, name);
  if (!obj.ok()) {
    if (optional && absl::IsNotFound(obj.status())) {
      *skip = true;
      return std::string();
    }
    if (absl::IsNotFound(obj.status())) {
      return absl::NotFoundError(std::string(kind) + " \"" + name + "\" not found");
    }
    return obj.status();
  }
  const Json data = obj->value("data", Json::object());
  if (data.contains(key) && data[key].is_string()) {
    std::string v = data[key].get<std::string>();
    return std::string(resource) == "secrets" ? Base64Decode(v) : v;
  }
  if (std::string(resource) == "configmaps") {
    const Json bin = obj->value("binaryData", Json::object());
    if (bin.contains(key) && bin[key].is_string()) return Base64Decode(bin[key].get<std::string>());
  }
  if (optional) {
    *skip = true;
    return std::string();
  }
  return absl::NotFoundError("couldn't find key " + key + " in " + kind + " " +
                             json::FieldOrEmptyObject(*obj, "metadata").value("namespace", "") +
                             "/" + name);
}

}  // namespace

std::string ExpandVars(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size()) {
      if (s[i + 1] == '$') {
        out.push_back('$');
        ++i;
        continue;
      }
      if (s[i + 1] == '(') {
        size_t close = s.find(')', i + 2);
        if (close != std::string::npos) {
          std::string name = s.substr(i + 2, close - i - 2);
          auto it = vars.find(name);
          if (it != vars.end()) {
            out += it->second;
            i = close;
            continue;
          }
        }
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

absl::StatusOr<EnvList> BuildContainerEnv(const Json& pod, const Json& container, uint16_t port,
                                          const EnvList& base, const ObjectLookup& lookup) {
  EnvList env = base;
  Set(&env, "HOSTNAME", json::FieldOrEmptyObject(pod, "metadata").value("name", ""));
  if (container.contains("envFrom") && container["envFrom"].is_array()) {
    for (const auto& src : container["envFrom"]) {
      std::string prefix = src.value("prefix", "");
      for (const char* which : {"configMapRef", "secretRef"}) {
        if (!src.contains(which)) continue;
        const Json& ref = src[which];
        const char* resource = std::string(which) == "secretRef" ? "secrets" : "configmaps";
        auto obj = lookup(resource, ref.value("name", ""));
        if (!obj.ok()) {
          if (ref.value("optional", false) && absl::IsNotFound(obj.status())) continue;
          if (absl::IsNotFound(obj.status())) {
            return absl::NotFoundError(
                std::string(which == std::string("secretRef") ? "secret" : "configmap") + " \"" +
                ref.value("name", "") + "\" not found");
          }
          return obj.status();
        }
        const Json data = obj->value("data", Json::object());
        for (const auto& [k, v] : data.items()) {
          if (!v.is_string()) continue;
          std::string value = v.get<std::string>();
          Set(&env, prefix + k, std::string(resource) == "secrets" ? Base64Decode(value) : value);
        }
      }
    }
  }
  if (container.contains("env") && container["env"].is_array()) {
    for (const auto& e : container["env"]) {
      std::string name = e.value("name", "");
      if (name.empty()) continue;
      if (e.contains("valueFrom") && e["valueFrom"].is_object()) {
        const Json& from = e["valueFrom"];
        absl::StatusOr<std::string> v = std::string();
        bool skip = false;
        if (from.contains("fieldRef")) {
          v = FieldRef(pod, from["fieldRef"].value("fieldPath", ""));
        } else if (from.contains("configMapKeyRef")) {
          v = KeyRef(from["configMapKeyRef"], "configmaps", lookup, &skip);
        } else if (from.contains("secretKeyRef")) {
          v = KeyRef(from["secretKeyRef"], "secrets", lookup, &skip);
        }  // resourceFieldRef: no resource accounting locally, the variable is empty
        if (!v.ok()) return v.status();
        if (!skip) Set(&env, name, *v);
        continue;
      }
      std::string value = e.contains("value") && e["value"].is_string()
                              ? e["value"].get<std::string>()
                              : std::string();
      Set(&env, name, ExpandVars(value, ToMap(env)));
    }
  }
  env.erase(
      std::remove_if(env.begin(), env.end(), [](const auto& kv) { return kv.first == "PORT"; }),
      env.end());
  env.emplace_back("PORT", std::to_string(port));
  return env;
}

std::vector<std::string> BuildArgv(const Json& container, const EnvList& env) {
  std::vector<std::string> argv;
  auto vars = ToMap(env);
  for (const char* field : {"command", "args"}) {
    if (!container.contains(field) || !container[field].is_array()) continue;
    if (std::string(field) == "args" && argv.empty()) return {};  // args without a command
    for (const auto& a : container[field]) {
      if (a.is_string()) argv.push_back(ExpandVars(a.get<std::string>(), vars));
    }
  }
  return argv;
}

std::vector<std::string> ToEnvStrings(const EnvList& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace kfaas::node
