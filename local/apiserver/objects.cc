#include "local/apiserver/objects.h"

#include <algorithm>
#include <random>
#include <regex>
#include <set>

#include "common/kube/selector.h"

namespace kfaas::local {
namespace {

const std::regex kLabel1035("[a-z]([-a-z0-9]*[a-z0-9])?");

std::string Quoted(const std::string& v) { return Json(v).dump(); }

Json* Path(Json& obj, std::initializer_list<const char*> path) {
  Json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

const Json* CPath(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

void SetDefault(Json& obj, const char* key, Json value) {
  if (!obj.is_object()) return;
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = std::move(value);
}

std::string GoType(const Json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

absl::Status DecodeError(const ResourceInfo& r, const std::string& field, const Json& v,
                         const std::string& go_field, const std::string& want) {
  return kube::BadRequestError(r.kind + " in version \"" + r.version +
                               "\" cannot be handled as a " + r.kind + ": json: cannot unmarshal " +
                               GoType(v) + " into Go struct field " + go_field + "." + field +
                               " of type " + want);
}

void DefaultContainer(Json& c) {
  if (!c.is_object()) return;
  SetDefault(c, "terminationMessagePath", "/dev/termination-log");
  SetDefault(c, "terminationMessagePolicy", "File");
  std::string image = c.value("image", "");
  auto slash = image.rfind('/');
  std::string last = slash == std::string::npos ? image : image.substr(slash + 1);
  bool latest = last.find(':') == std::string::npos || image.ends_with(":latest");
  if (image.find('@') != std::string::npos) latest = false;
  SetDefault(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
  SetDefault(c, "resources", Json::object());
  if (c.contains("ports") && c["ports"].is_array()) {
    for (auto& p : c["ports"]) {
      if (p.is_object()) SetDefault(p, "protocol", "TCP");
    }
  }
}

void DefaultPodSpec(Json& spec) {
  if (!spec.is_object()) return;
  SetDefault(spec, "restartPolicy", "Always");
  SetDefault(spec, "terminationGracePeriodSeconds", 30);
  SetDefault(spec, "dnsPolicy", "ClusterFirst");
  SetDefault(spec, "securityContext", Json::object());
  SetDefault(spec, "schedulerName", "default-scheduler");
  for (const char* list : {"containers", "initContainers"}) {
    if (spec.contains(list) && spec[list].is_array()) {
      for (auto& c : spec[list]) DefaultContainer(c);
    }
  }
}

void RequireContainers(const Json* spec, const std::string& prefix,
                       std::vector<kube::Cause>* causes) {
  const Json* containers = spec ? CPath(*spec, {"containers"}) : nullptr;
  if (!containers || !containers->is_array() || containers->empty()) {
    causes->push_back({"FieldValueRequired", "Required value", prefix + ".containers"});
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < containers->size(); ++i) {
    const Json& c = (*containers)[i];
    std::string p = prefix + ".containers[" + std::to_string(i) + "]";
    std::string name = c.is_object() ? c.value("name", "") : "";
    if (name.empty()) {
      causes->push_back({"FieldValueRequired", "Required value", p + ".name"});
    } else if (auto m = CheckDns1123Label(name); !m.empty()) {
      causes->push_back(
          {"FieldValueInvalid", "Invalid value: " + Quoted(name) + ": " + m, p + ".name"});
    } else if (!names.insert(name).second) {
      causes->push_back({"FieldValueDuplicate", "Duplicate value: " + Quoted(name), p + ".name"});
    }
    if (!c.is_object() || c.value("image", "").empty()) {
      causes->push_back({"FieldValueRequired", "Required value", p + ".image"});
    }
  }
}

}  // namespace

std::string CheckDns1123Subdomain(const std::string& v) {
  auto errs = kube::IsDNS1123Subdomain(v);
  std::string out;
  for (const auto& e : errs) out += (out.empty() ? "" : "; ") + e;
  return out;
}

std::string CheckDns1123Label(const std::string& v) {
  auto errs = kube::IsDNS1123Label(v);
  std::string out;
  for (const auto& e : errs) out += (out.empty() ? "" : "; ") + e;
  return out;
}

std::string CheckDns1035Label(const std::string& v) {
  if (v.size() > 63) return "must be no more than 63 characters";
  if (!std::regex_match(v, kLabel1035)) {
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is "
           "'[a-z]([-a-z0-9]*[a-z0-9])?')";
  }
  return "";
}

std::string CheckQualifiedName(const std::string& v) {
  auto errs = kube::IsQualifiedName(v);
  std::string out;
  for (const auto& e : errs) out += (out.empty() ? "" : "; ") + e;
  return out;
}

std::string CheckLabelValue(const std::string& v) {
  auto errs = kube::IsValidLabelValue(v);
  std::string out;
  for (const auto& e : errs) out += (out.empty() ? "" : "; ") + e;
  return out;
}

absl::Status CheckDecodeTypes(const ResourceInfo& r, const Json& obj) {
  if (!obj.is_object()) {
    return kube::BadRequestError("the body must be a JSON object (a " + r.kind + "), not " +
                                 GoType(obj));
  }
  const Json* meta = CPath(obj, {"metadata"});
  if (meta && !meta->is_null()) {
    if (!meta->is_object()) return DecodeError(r, "metadata", *meta, r.kind, "v1.ObjectMeta");
    for (const char* f : {"name", "generateName", "namespace", "uid", "resourceVersion",
                          "creationTimestamp", "deletionTimestamp"}) {
      auto it = meta->find(f);
      if (it != meta->end() && !it->is_null() && !it->is_string()) {
        return DecodeError(r, std::string("metadata.") + f, *it, "ObjectMeta", "string");
      }
    }
    for (const char* f : {"labels", "annotations"}) {
      auto it = meta->find(f);
      if (it == meta->end() || it->is_null()) continue;
      if (!it->is_object()) {
        return DecodeError(r, std::string("metadata.") + f, *it, "ObjectMeta", "map[string]string");
      }
      for (const auto& [k, v] : it->items()) {
        if (!v.is_string() && !v.is_null()) {
          return DecodeError(r, std::string("metadata.") + f, v, "ObjectMeta", "map[string]string");
        }
      }
    }
    for (const char* f : {"finalizers", "ownerReferences", "managedFields"}) {
      auto it = meta->find(f);
      if (it != meta->end() && !it->is_null() && !it->is_array()) {
        return DecodeError(r, std::string("metadata.") + f, *it, "ObjectMeta", "[]");
      }
    }
    if (auto it = meta->find("generation");
        it != meta->end() && !it->is_null() && !it->is_number_integer()) {
      return DecodeError(r, "metadata.generation", *it, "ObjectMeta", "int64");
    }
  }
  if (r.custom) return absl::OkStatus();
  auto int_field = [&](const Json* v, const std::string& field, const std::string& go_field,
                       const std::string& type) -> absl::Status {
    if (v && !v->is_null() && !v->is_number_integer()) {
      return DecodeError(r, field, *v, go_field, type);
    }
    return absl::OkStatus();
  };
  auto str_map = [&](const Json* v, const std::string& field) -> absl::Status {
    if (!v || v->is_null()) return absl::OkStatus();
    if (!v->is_object()) return DecodeError(r, field, *v, r.kind, "map[string]string");
    for (const auto& [k, x] : v->items()) {
      if (!x.is_string()) return DecodeError(r, field, x, r.kind, "string");
    }
    return absl::OkStatus();
  };
  if (r.resource == "deployments") {
    for (const char* f :
         {"replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"}) {
      auto st =
          int_field(CPath(obj, {"spec", f}), std::string("spec.") + f, "DeploymentSpec", "int32");
      if (!st.ok()) return st;
    }
    if (auto* s = CPath(obj, {"spec"}); s && !s->is_null() && !s->is_object()) {
      return DecodeError(r, "spec", *s, r.kind, "v1.DeploymentSpec");
    }
  } else if (r.resource == "configmaps") {
    if (auto st = str_map(CPath(obj, {"data"}), "data"); !st.ok()) return st;
  } else if (r.resource == "secrets") {
    if (auto st = str_map(CPath(obj, {"data"}), "data"); !st.ok()) return st;
    if (auto st = str_map(CPath(obj, {"stringData"}), "stringData"); !st.ok()) return st;
  } else if (r.resource == "services") {
    const Json* ports = CPath(obj, {"spec", "ports"});
    if (ports && ports->is_array()) {
      for (const auto& p : *ports) {
        auto st = int_field(CPath(p, {"port"}), "spec.ports.port", "ServicePort", "int32");
        if (!st.ok()) return st;
      }
    }
  } else if (r.resource == "leases") {
    for (const char* f : {"leaseDurationSeconds", "leaseTransitions"}) {
      auto st = int_field(CPath(obj, {"spec", f}), std::string("spec.") + f, "LeaseSpec", "int32");
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> UnknownMetadataFields(const Json& obj) {
  static const std::set<std::string> kKnown = {"name",
                                               "generateName",
                                               "namespace",
                                               "selfLink",
                                               "uid",
                                               "resourceVersion",
                                               "generation",
                                               "creationTimestamp",
                                               "deletionTimestamp",
                                               "deletionGracePeriodSeconds",
                                               "labels",
                                               "annotations",
                                               "ownerReferences",
                                               "finalizers",
                                               "managedFields"};
  std::vector<std::string> out;
  const Json* meta = CPath(obj, {"metadata"});
  if (!meta || !meta->is_object()) return out;
  for (const auto& [k, v] : meta->items()) {
    if (!kKnown.count(k)) out.push_back("metadata." + k);
  }
  return out;
}

std::vector<kube::Cause> ValidateMetadata(const ResourceInfo& r, const Json& obj) {
  std::vector<kube::Cause> causes;
  const Json& meta = obj["metadata"];
  std::string name = meta.value("name", "");
  auto invalid = [&](const std::string& field, const Json& v, const std::string& msg) {
    causes.push_back({"FieldValueInvalid", "Invalid value: " + v.dump() + ": " + msg, field});
  };
  if (name.empty()) {
    causes.push_back({"FieldValueRequired", "Required value: name or generateName is required",
                      "metadata.name"});
  } else {
    std::string m;
    if (r.resource == "namespaces") {
      m = CheckDns1123Label(name);
    } else if (r.resource == "services") {
      m = CheckDns1035Label(name);
    } else if (r.resource == "customresourcedefinitions") {
      m = "";  // checked against spec.names by ValidateCrd
    } else {
      m = CheckDns1123Subdomain(name);
    }
    if (m.empty() && (name == "." || name == ".." || name.find('/') != std::string::npos ||
                      name.find('%') != std::string::npos)) {
      m = "may not be '.' or '..' and may not contain '/' or '%'";
    }
    if (!m.empty()) invalid("metadata.name", name, m);
  }
  if (meta.contains("labels") && meta["labels"].is_object()) {
    for (const auto& [k, v] : meta["labels"].items()) {
      if (auto m = CheckQualifiedName(k); !m.empty()) invalid("metadata.labels", k, m);
      if (v.is_string()) {
        if (auto m = CheckLabelValue(v.get<std::string>()); !m.empty()) {
          invalid("metadata.labels", v, m);
        }
      }
    }
  }
  if (meta.contains("annotations") && meta["annotations"].is_object()) {
    size_t total = 0;
    for (const auto& [k, v] : meta["annotations"].items()) {
      if (auto m = CheckQualifiedName(k); !m.empty()) invalid("metadata.annotations", k, m);
      total += k.size() + (v.is_string() ? v.get<std::string>().size() : 0);
    }
    if (total > 256 * 1024) {
      causes.push_back({"FieldValueTooLong", "Too long: must have at most 262144 bytes",
                        "metadata.annotations"});
    }
  }
  if (meta.contains("finalizers") && meta["finalizers"].is_array()) {
    for (size_t i = 0; i < meta["finalizers"].size(); ++i) {
      const Json& f = meta["finalizers"][i];
      std::string field = "metadata.finalizers[" + std::to_string(i) + "]";
      if (!f.is_string()) {
        invalid(field, f, "must be a string");
      } else if (auto m = CheckQualifiedName(f.get<std::string>()); !m.empty()) {
        invalid(field, f, m);
      }
    }
  }
  if (meta.contains("ownerReferences") && meta["ownerReferences"].is_array()) {
    int controllers = 0;
    for (size_t i = 0; i < meta["ownerReferences"].size(); ++i) {
      const Json& o = meta["ownerReferences"][i];
      std::string p = "metadata.ownerReferences[" + std::to_string(i) + "]";
      if (!o.is_object()) {
        invalid(p, o, "must be an object");
        continue;
      }
      for (const char* f : {"apiVersion", "kind", "name", "uid"}) {
        if (!o.contains(f) || !o[f].is_string() || o[f].get<std::string>().empty()) {
          if (std::string(f) == "uid") {
            invalid(p + ".uid", "", "uid must not be empty");
          } else {
            invalid(p + "." + f, "", std::string(f) + " must not be empty");
          }
        }
      }
      if (o.value("controller", false)) ++controllers;
    }
    if (controllers > 1) {
      invalid("metadata.ownerReferences", meta["ownerReferences"],
              "Only one reference can have Controller set to true");
    }
  }
  return causes;
}

void ApplyBuiltinDefaults(const ResourceInfo& r, Json& obj) {
  if (r.custom) return;
  if (r.resource == "deployments") {
    Json& spec = obj["spec"];
    if (!spec.is_object()) return;
    SetDefault(spec, "replicas", 1);
    SetDefault(spec, "revisionHistoryLimit", 10);
    SetDefault(spec, "progressDeadlineSeconds", 600);
    if (!spec.contains("strategy") || !spec["strategy"].is_object()) {
      spec["strategy"] = Json::object();
    }
    SetDefault(spec["strategy"], "type", "RollingUpdate");
    if (spec["strategy"]["type"] == "RollingUpdate") {
      SetDefault(spec["strategy"], "rollingUpdate", Json::object());
      SetDefault(spec["strategy"]["rollingUpdate"], "maxUnavailable", "25%");
      SetDefault(spec["strategy"]["rollingUpdate"], "maxSurge", "25%");
    }
    if (Json* ps = Path(obj, {"spec", "template", "spec"})) DefaultPodSpec(*ps);
  } else if (r.resource == "pods") {
    if (Json* ps = Path(obj, {"spec"})) {
      DefaultPodSpec(*ps);
      SetDefault(*ps, "enableServiceLinks", true);
      SetDefault(*ps, "serviceAccountName", "default");
      SetDefault(*ps, "priority", 0);
    }
  } else if (r.resource == "services") {
    Json& spec = obj["spec"];
    if (!spec.is_object()) return;
    SetDefault(spec, "type", "ClusterIP");
    SetDefault(spec, "sessionAffinity", "None");
    if (spec["type"] != "ExternalName") {
      SetDefault(spec, "ipFamilies", Json::array({"IPv4"}));
      SetDefault(spec, "ipFamilyPolicy", "SingleStack");
      SetDefault(spec, "internalTrafficPolicy", "Cluster");
    }
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.is_object()) continue;
        SetDefault(p, "protocol", "TCP");
        if (p.contains("port")) SetDefault(p, "targetPort", p["port"]);
      }
    }
  } else if (r.resource == "secrets") {
    SetDefault(obj, "type", "Opaque");
  } else if (r.resource == "namespaces") {
    if (!obj.contains("spec") || !obj["spec"].is_object()) obj["spec"] = Json::object();
    SetDefault(obj["spec"], "finalizers", Json::array({"kubernetes"}));
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = obj["metadata"].value("name", "");
  } else if (r.resource == "customresourcedefinitions") {
    Json& spec = obj["spec"];
    if (!spec.is_object()) return;
    if (spec.contains("names") && spec["names"].is_object()) {
      Json& names = spec["names"];
      std::string kind = names.value("kind", "");
      std::string lower = kind;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      SetDefault(names, "singular", lower);
      SetDefault(names, "listKind", kind + "List");
    }
    SetDefault(spec, "conversion", Json{{"strategy", "None"}});
  }
}

std::vector<kube::Cause> ValidateBuiltin(const ResourceInfo& r, const Json& obj) {
  std::vector<kube::Cause> causes;
  if (r.custom) return causes;
  auto required = [&](const std::string& f) {
    causes.push_back({"FieldValueRequired", "Required value", f});
  };
  if (r.resource == "deployments") {
    const Json* spec = CPath(obj, {"spec"});
    const Json* sel = spec ? CPath(*spec, {"selector"}) : nullptr;
    if (!sel || !sel->is_object() || sel->empty()) {
      required("spec.selector");
    }
    if (const Json* rep = CPath(obj, {"spec", "replicas"});
        rep && rep->is_number_integer() && rep->get<int64_t>() < 0) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: " + rep->dump() + ": must be greater than or equal to 0",
                        "spec.replicas"});
    }
    const Json* tmpl_labels = CPath(obj, {"spec", "template", "metadata", "labels"});
    if (sel && sel->is_object() && !sel->empty()) {
      auto ls = kube::LabelSelector::FromJson(*sel);
      if (!ls.ok()) {
        causes.push_back(
            {"FieldValueInvalid", std::string(ls.status().message()), "spec.selector"});
      } else if (ls->Empty()) {
        causes.push_back(
            {"FieldValueInvalid",
             "Invalid value: " + sel->dump() + ": empty selector is invalid for deployment",
             "spec.selector"});
      } else if (!ls->Matches(tmpl_labels ? *tmpl_labels : Json())) {
        causes.push_back(
            {"FieldValueInvalid",
             "Invalid value: " + (tmpl_labels ? tmpl_labels->dump() : std::string("null")) +
                 ": `selector` does not match template `labels`",
             "spec.template.metadata.labels"});
      }
    }
    RequireContainers(CPath(obj, {"spec", "template", "spec"}), "spec.template.spec", &causes);
  } else if (r.resource == "pods") {
    RequireContainers(CPath(obj, {"spec"}), "spec", &causes);
  } else if (r.resource == "services") {
    const Json* spec = CPath(obj, {"spec"});
    std::string type = spec ? spec->value("type", "ClusterIP") : "ClusterIP";
    std::string cip = spec ? spec->value("clusterIP", "") : "";
    const Json* ports = spec ? CPath(*spec, {"ports"}) : nullptr;
    if (type != "ExternalName" && cip != "None" &&
        (!ports || !ports->is_array() || ports->empty())) {
      required("spec.ports");
    }
    if (ports && ports->is_array()) {
      for (size_t i = 0; i < ports->size(); ++i) {
        const Json& p = (*ports)[i];
        std::string f = "spec.ports[" + std::to_string(i) + "].port";
        int64_t port = p.is_object() ? p.value("port", int64_t{0}) : 0;
        if (port < 1 || port > 65535) {
          causes.push_back({"FieldValueInvalid",
                            "Invalid value: " + std::to_string(port) +
                                ": must be between 1 and 65535, inclusive",
                            f});
        }
        if (ports->size() > 1 && p.is_object() && p.value("name", "").empty()) {
          required("spec.ports[" + std::to_string(i) + "].name");
        }
      }
    }
  } else if (r.resource == "endpointslices") {
    if (!obj.contains("addressType")) required("addressType");
  } else if (r.resource == "events") {
    if (!obj.contains("involvedObject")) required("involvedObject");
  }
  return causes;
}

bool SameObjectExcept(const Json& a, const Json& b, std::initializer_list<std::string_view> skip,
                      std::initializer_list<std::string_view> metadata_skip) {
  if (!a.is_object() || !b.is_object()) return a == b;
  auto skipped = [&](const std::string& key) {
    return std::find(skip.begin(), skip.end(), key) != skip.end();
  };
  // Both walks go in key order (an object is a sorted map), as Json's own == does.
  auto ia = a.begin(), ib = b.begin();
  while (true) {
    while (ia != a.end() && skipped(ia.key())) ++ia;
    while (ib != b.end() && skipped(ib.key())) ++ib;
    if (ia == a.end() || ib == b.end()) return ia == a.end() && ib == b.end();
    if (ia.key() != ib.key()) return false;
    if (metadata_skip.size() != 0 && ia.key() == "metadata") {
      if (!SameObjectExcept(*ia, *ib, metadata_skip)) return false;
    } else if (*ia != *ib) {
      return false;
    }
    ++ia;
    ++ib;
  }
}

std::string RandomNameSuffix() {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (int i = 0; i < 5; ++i) out += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return out;
}

}  // namespace kfaas::local
