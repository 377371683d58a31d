#include "local/apiserver/discovery.h"

#include <cstdio>

namespace kfaas::local {
namespace {

Json Subresources(const ResourceInfo& r) {
  Json subs = Json::array();
  auto kind = [&](const std::string& g, const std::string& v, const std::string& k) {
    return Json{{"group", g}, {"version", v}, {"kind", k}};
  };
  if (r.status_subresource) {
    subs.push_back({{"subresource", "status"},
                    {"responseKind", kind(r.group, r.version, r.kind)},
                    {"verbs", {"get", "patch", "update"}}});
  }
  if (r.scale_subresource) {
    subs.push_back({{"subresource", "scale"},
                    {"responseKind", kind("autoscaling", "v1", "Scale")},
                    {"verbs", {"get", "patch", "update"}}});
  }
  if (r.log_subresource) {
    subs.push_back(
        {{"subresource", "log"}, {"responseKind", kind("", "v1", "Pod")}, {"verbs", {"get"}}});
  }
  return subs;
}

Json AggregatedResource(const ResourceInfo& r) {
  Json j = {{"resource", r.resource},
            {"responseKind", {{"group", r.group}, {"version", r.version}, {"kind", r.kind}}},
            {"scope", r.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", r.singular},
            {"verbs", r.verbs}};
  if (!r.short_names.empty()) j["shortNames"] = r.short_names;
  if (!r.categories.empty()) j["categories"] = r.categories;
  Json subs = Subresources(r);
  if (!subs.empty()) j["subresources"] = subs;
  return j;
}

Json GroupVersionFor(const std::string& group, const std::string& version) {
  return {{"groupVersion", group.empty() ? version : group + "/" + version}, {"version", version}};
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Upper1(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// "apps" -> "Apps", "discovery.k8s.io" -> "Discovery", "kfaas.dev" -> "KfaasDev".
std::string GroupId(const std::string& group) {
  if (group.empty()) return "Core";
  std::string out, part;
  std::string g = group;
  if (g.ends_with(".k8s.io")) g = g.substr(0, g.size() - 7);
  for (char c : g + ".") {
    if (c == '.' || c == '-') {
      out += Upper1(part);
      part.clear();
    } else {
      part += c;
    }
  }
  return out;
}

}  // namespace

Json AggregatedDiscovery(const Registry& reg, bool core, const std::string& version) {
  Json items = Json::array();
  for (const auto& g : reg.Groups()) {
    if (core != g.name.empty()) continue;
    Json item = {{"metadata", {{"creationTimestamp", nullptr}}}, {"versions", Json::array()}};
    if (!g.name.empty()) item["metadata"]["name"] = g.name;
    for (const auto& v : g.versions) {
      Json resources = Json::array();
      for (const auto& r : reg.All()) {
        if (r->group == g.name && r->version == v) resources.push_back(AggregatedResource(*r));
      }
      item["versions"].push_back(
          {{"version", v}, {"resources", resources}, {"freshness", "Current"}});
    }
    items.push_back(item);
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/" + version},
          {"metadata", Json::object()},
          {"items", items}};
}

Json LegacyApiVersions() {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:6443"}}}}};
}

Json LegacyGroupList(const Registry& reg) {
  Json groups = Json::array();
  for (const auto& g : reg.Groups()) {
    if (g.name.empty()) continue;
    Json versions = Json::array();
    for (const auto& v : g.versions) versions.push_back(GroupVersionFor(g.name, v));
    groups.push_back({{"name", g.name},
                      {"versions", versions},
                      {"preferredVersion", GroupVersionFor(g.name, g.versions.front())}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

Json LegacyGroup(const Registry& reg, const std::string& group) {
  for (const auto& g : reg.Groups()) {
    if (g.name != group || g.name.empty()) continue;
    Json versions = Json::array();
    for (const auto& v : g.versions) versions.push_back(GroupVersionFor(g.name, v));
    return {{"kind", "APIGroup"},
            {"apiVersion", "v1"},
            {"name", g.name},
            {"versions", versions},
            {"preferredVersion", GroupVersionFor(g.name, g.versions.front())}};
  }
  return nullptr;
}

Json LegacyResourceList(const Registry& reg, const std::string& group, const std::string& version) {
  if (!reg.GroupVersionExists(group, version)) return nullptr;
  Json resources = Json::array();
  for (const auto& r : reg.All()) {
    if (r->group != group || r->version != version) continue;
    Json j = {{"name", r->resource},
              {"singularName", r->singular},
              {"namespaced", r->namespaced},
              {"kind", r->kind},
              {"verbs", r->verbs}};
    if (!r->short_names.empty()) j["shortNames"] = r->short_names;
    if (!r->categories.empty()) j["categories"] = r->categories;
    resources.push_back(j);
    auto sub = [&](const std::string& name, const std::string& g, const std::string& v,
                   const std::string& kind, Json verbs) {
      Json s = {{"name", r->resource + "/" + name},
                {"singularName", ""},
                {"namespaced", r->namespaced},
                {"kind", kind},
                {"verbs", verbs}};
      if (!g.empty() || v != r->version) {
        s["group"] = g;
        s["version"] = v;
      }
      resources.push_back(s);
    };
    if (r->status_subresource) sub("status", "", r->version, r->kind, {"get", "patch", "update"});
    if (r->scale_subresource) {
      sub("scale", "autoscaling", "v1", "Scale", {"get", "patch", "update"});
    }
    if (r->log_subresource) sub("log", "", r->version, "Pod", {"get"});
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

std::string ContentHash(const std::string& text) {
  // FNV-1a 64, twice with different offsets for a 128-bit hex string.
  uint64_t h1 = 1469598103934665603ULL, h2 = 1099511628211ULL * 7919ULL;
  for (unsigned char c : text) {
    h1 = (h1 ^ c) * 1099511628211ULL;
    h2 = (h2 ^ c) * 1099511628211ULL + 0x9e3779b97f4a7c15ULL;
  }
  char buf[40];
  snprintf(buf, sizeof(buf), "%016llX%016llX", static_cast<unsigned long long>(h1),
           static_cast<unsigned long long>(h2));
  return buf;
}

Json OpenApiRoot(const Registry& reg) {
  Json paths = Json::object();
  for (const auto& g : reg.Groups()) {
    for (const auto& v : g.versions) {
      std::string key = g.name.empty() ? "api/" + v : "apis/" + g.name + "/" + v;
      std::string hash = ContentHash(OpenApiGroupVersion(reg, g.name, v).dump());
      paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash}};
    }
  }
  return {{"paths", paths}};
}

Json OpenApiGroupVersion(const Registry& reg, const std::string& group,
                         const std::string& version) {
  if (!reg.GroupVersionExists(group, version)) return nullptr;
  Json paths = Json::object();
  Json schemas = Json::object();
  std::string prefix = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  std::string gid = GroupId(group);
  std::string vid = Upper1(version);
  for (const auto& r : reg.All()) {
    if (r->group != group || r->version != version) continue;
    std::string schema_name =
        r->custom       ? Lower(r->group) + "." + r->version + "." + r->kind
        : group.empty() ? "io.k8s.api.core." + version + "." + r->kind
                        : "io.k8s.api." + Lower(GroupId(group)) + "." + version + "." + r->kind;
    Json gvk = {{"group", r->group}, {"version", r->version}, {"kind", r->kind}};
    Json ref = {{"$ref", "#/components/schemas/" + schema_name}};
    Json patch_body_schema = {{"type", "object"}};
    Json content = {{"application/json-patch+json", {{"schema", patch_body_schema}}},
                    {"application/merge-patch+json", {{"schema", patch_body_schema}}},
                    {"application/apply-patch+yaml", {{"schema", patch_body_schema}}}};
    Json params = Json::array(
        {{{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
         {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
         {{"name", "fieldValidation"},
          {"in", "query"},
          {"description",
           "fieldValidation instructs the server on how to handle objects in the request "
           "containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict"},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}},
         {{"name", "force"}, {"in", "query"}, {"schema", {{"type", "boolean"}}}}});
    std::string ns_part = r->namespaced ? "/namespaces/{namespace}" : "";
    std::string op_kind = (r->namespaced ? "Namespaced" : "") + r->kind;
    Json item_path = {
        {"get",
         {{"operationId", "read" + gid + vid + op_kind},
          {"responses", {{"200", {{"content", {{"application/json", {{"schema", ref}}}}}}}}},
          {"x-kubernetes-action", "get"},
          {"x-kubernetes-group-version-kind", gvk}}},
        {"patch",
         {{"operationId", "patch" + gid + vid + op_kind},
          {"parameters", params},
          {"requestBody", {{"content", content}, {"required", true}}},
          {"responses",
           {{"200", {{"content", {{"application/json", {{"schema", ref}}}}}}},
            {"201", {{"content", {{"application/json", {{"schema", ref}}}}}}}}},
          {"x-kubernetes-action", "patch"},
          {"x-kubernetes-group-version-kind", gvk}}}};
    paths[prefix + ns_part + "/" + r->resource + "/{name}"] = item_path;
    Json list_path = {
        {"post",
         {{"operationId", "create" + gid + vid + op_kind},
          {"parameters", params},
          {"requestBody",
           {{"content", {{"application/json", {{"schema", ref}}}}}, {"required", true}}},
          {"responses", {{"201", {{"content", {{"application/json", {{"schema", ref}}}}}}}}},
          {"x-kubernetes-action", "post"},
          {"x-kubernetes-group-version-kind", gvk}}}};
    paths[prefix + ns_part + "/" + r->resource] = list_path;
    Json schema;
    if (r->custom && r->schema.is_object()) {
      schema = r->schema;
    } else {
      schema = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    }
    schema["x-kubernetes-group-version-kind"] = Json::array({gvk});
    schemas[schema_name] = schema;
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.4"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

}  // namespace kfaas::local
