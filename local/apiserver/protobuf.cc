#include "local/apiserver/protobuf.h"

#include <map>
#include <vector>

#include "common/base/time_format.h"
#include "common/kube/errors.h"

namespace kfaas::local {
namespace {

using Json = nlohmann::json;

enum class T {
  kString,
  kBytes,  // base64 in JSON
  kInt,
  kBool,
  kMsg,
  kMapStr,
  kMapBytes,
  kMapQty,
  kRepStr,
  kRepMsg,
  kTime,
  kIntOrStr,
  kQty
};

struct F {
  int num;
  const char* name;
  T type;
  const char* msg = nullptr;
  bool keep_zero = false;  // a pointer field in Go: an explicit 0/false is meaningful
};

// Field numbers from k8s.io/api and k8s.io/apimachinery generated.proto (v1.32).
const std::map<std::string, std::vector<F>>& Messages() {
  static const std::map<std::string, std::vector<F>> m = {
      {"ObjectMeta",
       {{1, "name", T::kString},
        {2, "generateName", T::kString},
        {3, "namespace", T::kString},
        {5, "uid", T::kString},
        {6, "resourceVersion", T::kString},
        {7, "generation", T::kInt},
        {8, "creationTimestamp", T::kTime},
        {10, "deletionGracePeriodSeconds", T::kInt, nullptr, true},
        {11, "labels", T::kMapStr},
        {12, "annotations", T::kMapStr},
        {13, "ownerReferences", T::kRepMsg, "OwnerReference"},
        {14, "finalizers", T::kRepStr}}},
      {"OwnerReference",
       {{1, "kind", T::kString},
        {3, "name", T::kString},
        {4, "uid", T::kString},
        {5, "apiVersion", T::kString},
        {6, "controller", T::kBool, nullptr, true},
        {7, "blockOwnerDeletion", T::kBool, nullptr, true}}},
      {"LabelSelector",
       {{1, "matchLabels", T::kMapStr},
        {2, "matchExpressions", T::kRepMsg, "LabelSelectorRequirement"}}},
      {"LabelSelectorRequirement",
       {{1, "key", T::kString}, {2, "operator", T::kString}, {3, "values", T::kRepStr}}},
      // apps/v1
      {"Deployment",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {2, "spec", T::kMsg, "DeploymentSpec"},
        {3, "status", T::kMsg, "Empty"}}},
      {"DeploymentSpec",
       {{1, "replicas", T::kInt, nullptr, true},
        {2, "selector", T::kMsg, "LabelSelector"},
        {3, "template", T::kMsg, "PodTemplateSpec"},
        {4, "strategy", T::kMsg, "DeploymentStrategy"},
        {5, "minReadySeconds", T::kInt},
        {6, "revisionHistoryLimit", T::kInt, nullptr, true},
        {7, "paused", T::kBool},
        {9, "progressDeadlineSeconds", T::kInt, nullptr, true}}},
      {"DeploymentStrategy",
       {{1, "type", T::kString}, {2, "rollingUpdate", T::kMsg, "RollingUpdateDeployment"}}},
      {"RollingUpdateDeployment",
       {{1, "maxUnavailable", T::kIntOrStr}, {2, "maxSurge", T::kIntOrStr}}},
      // core/v1
      {"PodTemplateSpec",
       {{1, "metadata", T::kMsg, "ObjectMeta"}, {2, "spec", T::kMsg, "PodSpec"}}},
      {"Pod",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {2, "spec", T::kMsg, "PodSpec"},
        {3, "status", T::kMsg, "Empty"}}},
      {"PodSpec",
       {{2, "containers", T::kRepMsg, "Container"},
        {3, "restartPolicy", T::kString},
        {4, "terminationGracePeriodSeconds", T::kInt, nullptr, true},
        {5, "activeDeadlineSeconds", T::kInt, nullptr, true},
        {6, "dnsPolicy", T::kString},
        {7, "nodeSelector", T::kMapStr},
        {8, "serviceAccountName", T::kString},
        {10, "nodeName", T::kString},
        {11, "hostNetwork", T::kBool},
        {14, "securityContext", T::kMsg, "Empty"},
        {16, "hostname", T::kString},
        {17, "subdomain", T::kString},
        {19, "schedulerName", T::kString},
        {20, "initContainers", T::kRepMsg, "Container"},
        {21, "automountServiceAccountToken", T::kBool, nullptr, true},
        {24, "priorityClassName", T::kString},
        {25, "priority", T::kInt, nullptr, true},
        {30, "enableServiceLinks", T::kBool, nullptr, true}}},
      {"Container",
       {{1, "name", T::kString},
        {2, "image", T::kString},
        {3, "command", T::kRepStr},
        {4, "args", T::kRepStr},
        {5, "workingDir", T::kString},
        {6, "ports", T::kRepMsg, "ContainerPort"},
        {7, "env", T::kRepMsg, "EnvVar"},
        {8, "resources", T::kMsg, "ResourceRequirements"},
        {13, "terminationMessagePath", T::kString},
        {14, "imagePullPolicy", T::kString},
        {16, "stdin", T::kBool},
        {17, "stdinOnce", T::kBool},
        {18, "tty", T::kBool},
        {20, "terminationMessagePolicy", T::kString}}},
      {"ContainerPort",
       {{1, "name", T::kString},
        {2, "hostPort", T::kInt},
        {3, "containerPort", T::kInt},
        {4, "protocol", T::kString},
        {5, "hostIP", T::kString}}},
      {"EnvVar", {{1, "name", T::kString}, {2, "value", T::kString}}},
      {"ResourceRequirements", {{1, "limits", T::kMapQty}, {2, "requests", T::kMapQty}}},
      {"ConfigMap",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {2, "data", T::kMapStr},
        {3, "binaryData", T::kMapBytes},
        {4, "immutable", T::kBool, nullptr, true}}},
      {"Secret",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {2, "data", T::kMapBytes},
        {3, "type", T::kString},
        {4, "stringData", T::kMapStr},
        {5, "immutable", T::kBool, nullptr, true}}},
      {"Namespace",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {2, "spec", T::kMsg, "NamespaceSpec"},
        {3, "status", T::kMsg, "Empty"}}},
      {"NamespaceSpec", {{1, "finalizers", T::kRepStr}}},
      {"ServiceAccount",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {4, "automountServiceAccountToken", T::kBool, nullptr, true}}},
      {"Service",
       {{1, "metadata", T::kMsg, "ObjectMeta"},
        {2, "spec", T::kMsg, "ServiceSpec"},
        {3, "status", T::kMsg, "Empty"}}},
      {"ServiceSpec",
       {{1, "ports", T::kRepMsg, "ServicePort"},
        {2, "selector", T::kMapStr},
        {3, "clusterIP", T::kString},
        {4, "type", T::kString},
        {5, "externalIPs", T::kRepStr},
        {7, "sessionAffinity", T::kString},
        {10, "externalName", T::kString},
        {11, "externalTrafficPolicy", T::kString},
        {13, "publishNotReadyAddresses", T::kBool}}},
      {"ServicePort",
       {{1, "name", T::kString},
        {2, "protocol", T::kString},
        {3, "port", T::kInt},
        {4, "targetPort", T::kIntOrStr},
        {5, "nodePort", T::kInt},
        {6, "appProtocol", T::kString, nullptr, true}}},
      {"Empty", {}},
  };
  return m;
}

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;
  bool done() const { return p >= end || !ok; }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) {
        ok = false;
        return 0;
      }
      uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  std::string Bytes() {
    uint64_t n = Varint();
    if (!ok || n > static_cast<uint64_t>(end - p)) {
      ok = false;
      return "";
    }
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  void Skip(int wire) {
    switch (wire) {
      case 0:
        Varint();
        break;
      case 1:
        if (end - p < 8) ok = false;
        p += 8;
        break;
      case 2:
        Bytes();
        break;
      case 5:
        if (end - p < 4) ok = false;
        p += 4;
        break;
      default:
        ok = false;
    }
  }
};

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
  }
  return out;
}

bool Decode(const std::string& msg, const std::string& data, Json* out, int depth);

// A map entry {1: key, 2: value}.
bool Entry(const std::string& data, std::string* key, std::string* value) {
  Reader r{reinterpret_cast<const uint8_t*>(data.data()),
           reinterpret_cast<const uint8_t*>(data.data()) + data.size()};
  while (!r.done()) {
    uint64_t tag = r.Varint();
    int num = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    if (wire == 2 && num == 1) {
      *key = r.Bytes();
    } else if (wire == 2 && num == 2) {
      *value = r.Bytes();
    } else {
      r.Skip(wire);
    }
  }
  return r.ok;
}

bool Decode(const std::string& msg, const std::string& data, Json* out, int depth) {
  if (depth > 32) return false;
  const auto& msgs = Messages();
  auto it = msgs.find(msg);
  if (it == msgs.end()) return false;
  *out = Json::object();
  Reader r{reinterpret_cast<const uint8_t*>(data.data()),
           reinterpret_cast<const uint8_t*>(data.data()) + data.size()};
  while (!r.done()) {
    uint64_t tag = r.Varint();
    int num = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    const F* f = nullptr;
    for (const auto& x : it->second) {
      if (x.num == num) f = &x;
    }
    if (!f) {
      r.Skip(wire);
      continue;
    }
    Json& slot = (*out)[f->name];
    if (wire == 0) {
      uint64_t v = r.Varint();
      if (f->type == T::kBool) {
        slot = v != 0;
      } else {
        slot = static_cast<int64_t>(v);
      }
      continue;
    }
    if (wire != 2) {
      r.Skip(wire);
      out->erase(f->name);
      continue;
    }
    std::string b = r.Bytes();
    switch (f->type) {
      case T::kString:
        slot = b;
        break;
      case T::kBytes:
        slot = Base64(b);
        break;
      case T::kMsg: {
        Json sub;
        if (!Decode(f->msg, b, &sub, depth + 1)) return false;
        slot = sub;
        break;
      }
      case T::kRepMsg: {
        Json sub;
        if (!Decode(f->msg, b, &sub, depth + 1)) return false;
        if (!slot.is_array()) slot = Json::array();
        slot.push_back(sub);
        break;
      }
      case T::kRepStr:
        if (!slot.is_array()) slot = Json::array();
        slot.push_back(b);
        break;
      case T::kMapStr:
      case T::kMapBytes:
      case T::kMapQty: {
        std::string k, v;
        if (!Entry(b, &k, &v)) return false;
        if (!slot.is_object()) slot = Json::object();
        if (f->type == T::kMapBytes) {
          slot[k] = Base64(v);
        } else if (f->type == T::kMapQty) {
          std::string quantity, unused;
          Entry(v, &quantity, &unused);  // Quantity{1: string} reads like an entry's key
          slot[k] = quantity;
        } else {
          slot[k] = v;
        }
        break;
      }
      case T::kTime: {
        Reader t{reinterpret_cast<const uint8_t*>(b.data()),
                 reinterpret_cast<const uint8_t*>(b.data()) + b.size()};
        int64_t secs = 0;
        while (!t.done()) {
          uint64_t tt = t.Varint();
          if ((tt >> 3) == 1 && (tt & 7) == 0) {
            secs = static_cast<int64_t>(t.Varint());
          } else {
            t.Skip(static_cast<int>(tt & 7));
          }
        }
        if (secs == 0) {
          out->erase(f->name);
        } else {
          slot = FormatRfc3339(WallTime(std::chrono::seconds(secs)));
        }
        break;
      }
      case T::kIntOrStr: {
        Reader t{reinterpret_cast<const uint8_t*>(b.data()),
                 reinterpret_cast<const uint8_t*>(b.data()) + b.size()};
        int64_t type = 0, iv = 0;
        std::string sv;
        while (!t.done()) {
          uint64_t tt = t.Varint();
          int n = static_cast<int>(tt >> 3), w = static_cast<int>(tt & 7);
          if (n == 1 && w == 0) {
            type = static_cast<int64_t>(t.Varint());
          } else if (n == 2 && w == 0) {
            iv = static_cast<int32_t>(t.Varint());
          } else if (n == 3 && w == 2) {
            sv = t.Bytes();
          } else {
            t.Skip(w);
          }
        }
        if (type == 1) {
          slot = sv;
        } else {
          slot = iv;
        }
        break;
      }
      case T::kQty:
      case T::kInt:
      case T::kBool:
        out->erase(f->name);
        break;
    }
  }
  if (!r.ok) return false;
  // Go's JSON omits zero values of non-pointer fields.
  for (const auto& f : it->second) {
    auto e = out->find(f.name);
    if (e == out->end() || f.keep_zero) continue;
    if ((e->is_string() && e->get<std::string>().empty()) || (e->is_boolean() && !e->get<bool>()) ||
        (e->is_number_integer() && e->get<int64_t>() == 0 && f.type == T::kInt)) {
      out->erase(e);
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<nlohmann::json> DecodeKubernetesProtobuf(const std::string& body) {
  if (body.size() < 4 || body.compare(0, 4, std::string("k8s\0", 4)) != 0) {
    return kube::BadRequestError(
        "the protobuf body does not start with the Kubernetes magic number \"k8s\\x00\"");
  }
  std::string env = body.substr(4);
  Reader r{reinterpret_cast<const uint8_t*>(env.data()),
           reinterpret_cast<const uint8_t*>(env.data()) + env.size()};
  std::string api_version, kind, raw;
  while (!r.done()) {
    uint64_t tag = r.Varint();
    int num = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    if (num == 1 && wire == 2) {
      std::string tm = r.Bytes();
      Reader t{reinterpret_cast<const uint8_t*>(tm.data()),
               reinterpret_cast<const uint8_t*>(tm.data()) + tm.size()};
      while (!t.done()) {
        uint64_t tt = t.Varint();
        int n = static_cast<int>(tt >> 3), w = static_cast<int>(tt & 7);
        if (n == 1 && w == 2) {
          api_version = t.Bytes();
        } else if (n == 2 && w == 2) {
          kind = t.Bytes();
        } else {
          t.Skip(w);
        }
      }
    } else if (num == 2 && wire == 2) {
      raw = r.Bytes();
    } else {
      r.Skip(wire);
    }
  }
  if (!r.ok) return kube::BadRequestError("malformed protobuf body");
  static const std::map<std::string, std::string> kKinds = {
      {"Deployment", "apps/v1"}, {"Pod", "v1"},     {"ConfigMap", "v1"},     {"Secret", "v1"},
      {"Namespace", "v1"},       {"Service", "v1"}, {"ServiceAccount", "v1"}};
  auto k = kKinds.find(kind);
  if (k == kKinds.end() || k->second != api_version) {
    return kube::MakeApiError(415, "UnsupportedMediaType",
                              "the local API server decodes application/vnd.kubernetes.protobuf "
                              "only for Deployment, Pod, ConfigMap, Secret, Namespace, Service "
                              "and ServiceAccount (got " +
                                  api_version + " " + kind + "); send application/json");
  }
  Json obj;
  if (!Decode(kind, raw, &obj, 0)) return kube::BadRequestError("malformed protobuf " + kind);
  obj["apiVersion"] = api_version;
  obj["kind"] = kind;
  return obj;
}

}  // namespace kfaas::local
