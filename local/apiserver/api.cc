#include "local/apiserver/api.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "common/base/time_format.h"
#include "common/base/yaml_json.h"
#include "common/kube/errors.h"
#include "common/kube/selector.h"
#include "local/apiserver/objects.h"
#include "local/apiserver/patch.h"
#include "local/apiserver/schema.h"

namespace kfaas::local {
namespace {

constexpr char kForegroundFinalizer[] = "foregroundDeletion";
constexpr char kOrphanFinalizer[] = "orphan";
constexpr char kCrdCleanupFinalizer[] = "customresourcecleanup.apiextensions.k8s.io";

std::string MetaStr(const Json& o, const char* f) {
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return "";
  auto it = m->find(f);
  return it != m->end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Finalizers(const Json& o) {
  std::vector<std::string> out;
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return out;
  auto it = m->find("finalizers");
  if (it == m->end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

void SetFinalizers(Json& o, const std::vector<std::string>& f) {
  if (f.empty()) {
    o["metadata"].erase("finalizers");
  } else {
    o["metadata"]["finalizers"] = f;
  }
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void Remove(std::vector<std::string>& v, const std::string& s) {
  v.erase(std::remove(v.begin(), v.end(), s), v.end());
}

bool IsDeleting(const Json& o) {
  auto m = o.find("metadata");
  return m != o.end() && m->is_object() && m->contains("deletionTimestamp") &&
         !(*m)["deletionTimestamp"].is_null();
}

// Whether `a` and `b` differ only in server-maintained volatile fields (a no-op write).
bool SameExceptVolatile(const Json& a, const Json& b) {
  return SameObjectExcept(a, b, {}, {"resourceVersion", "managedFields"});
}

// Dotted paths (".spec.replicas") as used by CRD scale subresources.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '.') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

const Json* GetPath(const Json& o, const std::string& path) {
  const Json* cur = &o;
  for (const auto& p : SplitPath(path)) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

void SetPath(Json& o, const std::string& path, Json value) {
  Json* cur = &o;
  for (const auto& p : SplitPath(path)) {
    if (!cur->is_object()) *cur = Json::object();
    cur = &(*cur)[p];
  }
  *cur = std::move(value);
}

bool ValidSubresource(const ResourceInfo& r, const std::string& sub) {
  if (sub.empty()) return true;
  if (sub == "status") return r.status_subresource;
  if (sub == "scale") return r.scale_subresource;
  return false;
}

absl::Status NoSuchResource() {
  return kube::MakeApiError(404, "NotFound", "the server could not find the requested resource");
}

absl::StatusOr<uint64_t> ParseRv(const std::string& rv) {
  if (rv.empty()) return 0;
  uint64_t v = 0;
  for (char c : rv) {
    if (c < '0' || c > '9' || v > (UINT64_MAX / 10)) {
      return kube::BadRequestError("invalid resource version \"" + rv +
                                   "\": must be a decimal number");
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

absl::Status TooLargeRv(uint64_t want, uint64_t cur) {
  return kube::MakeApiError(
      504, "Timeout",
      "Timeout: Too large resource version: " + std::to_string(want) +
          ", current: " + std::to_string(cur),
      {{"causes",
        {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
       {"retryAfterSeconds", 1}});
}

std::string Base64Encode(const std::string& in, bool url) {
  static const char* kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char* kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* t = url ? kUrl : kStd;
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += t[(n >> 6) & 63];
    out += t[n & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    if (!url) out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += t[(n >> 6) & 63];
    if (!url) out += '=';
  }
  return out;
}

bool Base64Decode(const std::string& in, std::string* out) {
  out->clear();
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return true;
}

std::string EncodeContinue(uint64_t rv, const std::string& start) {
  Json j = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", start}};
  return Base64Encode(j.dump(), /*url=*/true);
}

absl::Status DecodeContinue(const std::string& token, uint64_t* rv, std::string* start) {
  std::string raw;
  if (!Base64Decode(token, &raw)) {
    return kube::BadRequestError("continue key is not valid: illegal base64 data");
  }
  Json j = Json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("v", "") != "meta.k8s.io/v1" ||
      !j.contains("rv") || !j["rv"].is_number_unsigned() || !j.contains("start") ||
      !j["start"].is_string()) {
    return kube::BadRequestError(
        "continue key is not valid: incorrect encoded start "
        "resourceVersion (version meta.k8s.io/v1)");
  }
  *rv = j["rv"].get<uint64_t>();
  *start = j["start"].get<std::string>();
  return absl::OkStatus();
}

std::set<std::string> AllowedFieldSelectors(const ResourceInfo& r) {
  std::set<std::string> s = {"metadata.name", "metadata.namespace"};
  if (r.custom) {
    for (const auto& f : r.selectable_fields) s.insert(f);
  } else if (r.resource == "pods") {
    s.insert({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
              "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
              "status.nominatedNodeName"});
  } else if (r.resource == "events") {
    s.insert({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"});
  } else if (r.resource == "secrets") {
    s.insert("type");
  } else if (r.resource == "namespaces") {
    s.insert("status.phase");
  } else if (r.resource == "services") {
    s.insert({"spec.clusterIP", "spec.type"});
  }
  return s;
}

absl::StatusOr<kube::FieldSelector> ParseFieldSelector(const ResourceInfo& r,
                                                       const std::string& sel) {
  auto fs = kube::FieldSelector::Parse(sel);
  if (!fs.ok()) return kube::BadRequestError(std::string(fs.status().message()));
  auto allowed = AllowedFieldSelectors(r);
  for (const auto& req : fs->requirements()) {
    if (!allowed.count(req.key)) {
      return kube::BadRequestError("field label not supported: " + req.key);
    }
  }
  return fs;
}

absl::StatusOr<kube::LabelSelector> ParseLabelSelector(const std::string& sel) {
  auto ls = kube::LabelSelector::Parse(sel);
  if (!ls.ok()) return kube::BadRequestError(std::string(ls.status().message()));
  return ls;
}

}  // namespace

std::string NewUid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant
  char buf[40];
  snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string QualifiedKind(const ResourceInfo& r) {
  return r.group.empty() ? r.kind : r.kind + "." + r.group;
}

absl::StatusOr<FieldValidation> ParseFieldValidation(const std::string& v) {
  if (v.empty() || v == "Warn") return FieldValidation::kWarn;
  if (v == "Strict") return FieldValidation::kStrict;
  if (v == "Ignore") return FieldValidation::kIgnore;
  return kube::BadRequestError("fieldValidation: Unsupported value: \"" + v +
                               "\": supported values: \"Ignore\", \"Warn\", \"Strict\"");
}

Api::Api(Registry& registry, Store& store, Faults& faults, Clock& clock, ApiOptions opts)
    : registry_(registry), store_(store), faults_(faults), clock_(clock), opts_(std::move(opts)) {}

absl::StatusOr<ResourcePtr> Api::Resolve(const std::string& group, const std::string& version,
                                         const std::string& resource) const {
  auto r = registry_.Find(group, version, resource);
  if (!r) return NoSuchResource();
  return r;
}

ObjectPtr Api::AtVersion(const ResourceInfo& r, const ObjectPtr& o) const {
  if (!o) return o;
  // Allocation-free check (this runs for every watch event and list item).
  auto it = o->obj.find("apiVersion");
  if (it != o->obj.end() && it->is_string()) {
    const std::string& av = it->get_ref<const std::string&>();
    bool same = r.group.empty()
                    ? av == r.version
                    : av.size() == r.group.size() + 1 + r.version.size() &&
                          av.compare(0, r.group.size(), r.group) == 0 &&
                          av[r.group.size()] == '/' &&
                          av.compare(r.group.size() + 1, std::string::npos, r.version) == 0;
    if (same) return o;
  }
  auto s = std::make_shared<StoredObject>();
  s->obj = o->obj;
  s->obj["apiVersion"] = r.ApiVersion();
  s->bytes = s->obj.dump();
  s->rv = o->rv;
  return s;
}

absl::Status Api::CheckFault(const ResourceInfo& r, const std::string& subresource,
                             const char* verb, const Caller& caller) {
  if (caller.internal) return absl::OkStatus();
  return faults_.CheckWrite(r.resource, subresource, verb, caller.user_agent);
}

std::string Api::FieldManager(const WriteOpts& opts, const Caller& caller) const {
  if (!opts.field_manager.empty()) return opts.field_manager;
  std::string ua = caller.user_agent.substr(0, caller.user_agent.find('/'));
  if (ua.size() > 128) ua.resize(128);
  return ua.empty() ? "unknown" : ua;
}

std::string Api::AllocateClusterIp() {
  std::lock_guard lock(ip_mu_);
  uint32_t n = next_ip_++;
  return "10.96." + std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
}

// ---------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<Json> Api::Get(const ResourceInfo& r, const std::string& ns, const std::string& name,
                              const std::string& subresource, const std::string& resource_version) {
  if (!ValidSubresource(r, subresource)) return NoSuchResource();
  auto want = ParseRv(resource_version);
  if (!want.ok()) return want.status();
  ObjectPtr o = store_.Get(KeyFor(r, ns, name));
  if (*want > 0) {
    uint64_t cur = store_.CurrentRv();
    if (*want > cur) return TooLargeRv(*want, cur);
  }
  if (!o) return kube::NotFoundError(r.GroupResource(), name);
  o = AtVersion(r, o);
  if (subresource == "scale") return ToScale(r, o->obj);
  return o->obj;
}

absl::StatusOr<ListResult> Api::List(const ResourceInfo& r, const std::string& ns,
                                     const kube::ListOptions& opts) {
  const std::string& rv = opts.resource_version;
  const std::string& match = opts.resource_version_match;
  if (!match.empty() && match != "NotOlderThan" && match != "Exact") {
    return kube::BadRequestError("resourceVersionMatch: Unsupported value: \"" + match +
                                 "\": supported values: \"Exact\", \"NotOlderThan\"");
  }
  if (!match.empty() && rv.empty()) {
    return kube::BadRequestError(
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
        "resourceVersion is provided");
  }
  if (match == "Exact" && rv == "0") {
    return kube::BadRequestError(
        "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for "
        "resourceVersion \"0\"");
  }
  if (!opts.continue_token.empty() && !rv.empty() && rv != "0") {
    return kube::BadRequestError("specifying resource version is not allowed when using continue");
  }
  if (opts.limit < 0) return kube::BadRequestError("limit: Invalid value: must be >= 0");
  auto ls = ParseLabelSelector(opts.label_selector);
  if (!ls.ok()) return ls.status();
  auto fs = ParseFieldSelector(r, opts.field_selector);
  if (!fs.ok()) return fs.status();
  auto want = ParseRv(rv);
  if (!want.ok()) return want.status();

  Store::ListRequest req;
  req.storage_key = r.StorageKey();
  req.ns = r.namespaced ? ns : "";
  req.limit = opts.limit;
  if (rv == "0" && match.empty()) req.limit = 0;  // served from "cache": no paging
  bool from_continue = false;
  if (!opts.continue_token.empty()) {
    uint64_t crv = 0;
    std::string start;
    if (auto st = DecodeContinue(opts.continue_token, &crv, &start); !st.ok()) return st;
    req.at_rv = crv;
    req.start_after = start;
    from_continue = true;
  } else if (*want > 0) {
    uint64_t cur = store_.CurrentRv();
    bool exact = match == "Exact" || (match.empty() && opts.limit > 0);
    if (*want > cur) return TooLargeRv(*want, cur);
    if (exact) req.at_rv = *want;
  }
  kube::LabelSelector labels = *ls;
  kube::FieldSelector fields = *fs;
  if (!labels.Empty() || !fields.Empty()) {
    req.filter = [labels, fields](const Json& o) {
      if (!labels.Empty()) {
        const Json& m = o["metadata"];
        auto it = m.find("labels");
        if (!labels.Matches(it == m.end() ? Json() : *it)) return false;
      }
      return fields.Empty() || fields.Matches(o);
    };
  }
  auto res = store_.List(req);
  if (!res.ok()) {
    if (from_continue && kube::IsGone(res.status())) {
      return kube::GoneError(
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter, or use the continue token in "
          "this response to retrieve the remainder of the results. Continuing with the "
          "provided token results in an inconsistent list - objects that were created, "
          "modified, or deleted between the time the first chunk was returned and now may show "
          "up in the list.");
    }
    return res.status();
  }
  ListResult out;
  out.rv = res->rv;
  out.items.reserve(res->items.size());
  for (auto& o : res->items) out.items.push_back(AtVersion(r, o));
  if (!res->last_key.empty()) {
    out.continue_token = EncodeContinue(res->rv, res->last_key);
    if (labels.Empty() && fields.Empty()) out.remaining = res->remaining;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writes

absl::Status Api::ValidateAndDefault(const ResourceInfo& r, Json& obj, const Json* old,
                                     const WriteOpts& opts, std::vector<std::string>* warnings) {
  std::vector<std::string> unknown = UnknownMetadataFields(obj);
  for (const auto& f : unknown) obj["metadata"].erase(f.substr(strlen("metadata.")));
  std::vector<kube::Cause> causes = ValidateMetadata(r, obj);
  if (r.custom) {
    if (r.schema.is_object()) {
      SchemaResult sr = ProcessObject(r.schema, obj);
      unknown.insert(unknown.end(), sr.unknown_fields.begin(), sr.unknown_fields.end());
      causes.insert(causes.end(), sr.errors.begin(), sr.errors.end());
    }
  } else {
    ApplyBuiltinDefaults(r, obj);
    auto bc = ValidateBuiltin(r, obj);
    causes.insert(causes.end(), bc.begin(), bc.end());
    if (r.resource == "customresourcedefinitions") {
      auto cc = ValidateCrd(obj);
      causes.insert(causes.end(), cc.begin(), cc.end());
      if (old) {
        const Json& os = (*old)["spec"];
        const Json& ns = obj["spec"];
        if (os.value("group", "") != ns.value("group", "")) {
          causes.push_back(
              {"FieldValueInvalid",
               "Invalid value: " + ns.value("group", Json("")).dump() + ": field is immutable",
               "spec.group"});
        }
      }
    }
    if (r.resource == "deployments" && old) {
      const Json* os = GetPath(*old, ".spec.selector");
      const Json* ns = GetPath(obj, ".spec.selector");
      if (os && ns && *os != *ns) {
        causes.push_back({"FieldValueInvalid",
                          "Invalid value: " + ns->dump() + ": field is immutable",
                          "spec.selector"});
      }
    }
  }
  if (!unknown.empty()) {
    if (opts.validation == FieldValidation::kStrict) {
      std::string msg = "strict decoding error: ";
      for (size_t i = 0; i < unknown.size(); ++i) {
        if (i) msg += ", ";
        msg += "unknown field \"" + unknown[i] + "\"";
      }
      return kube::BadRequestError(msg);
    }
    if (opts.validation == FieldValidation::kWarn && warnings) {
      for (const auto& f : unknown) warnings->push_back("unknown field \"" + f + "\"");
    }
  }
  if (!causes.empty()) {
    return kube::InvalidError(r.kind, r.group, MetaStr(obj, "name"), causes);
  }
  return absl::OkStatus();
}

absl::Status Api::PrepareCreate(const ResourceInfo& r, const std::string& ns, Json& obj,
                                const WriteOpts& opts, const Caller& caller, bool record_manager,
                                std::vector<std::string>* warnings) {
  if (auto st = CheckDecodeTypes(r, obj); !st.ok()) return st;
  if (obj.contains("apiVersion") && obj["apiVersion"].is_string() &&
      !obj["apiVersion"].get<std::string>().empty() && obj["apiVersion"] != r.ApiVersion()) {
    return kube::BadRequestError(
        "the API version in the data (" + obj["apiVersion"].get<std::string>() +
        ") does not match the expected API version (" + r.ApiVersion() + ")");
  }
  if (obj.contains("kind") && obj["kind"].is_string() && !obj["kind"].get<std::string>().empty() &&
      obj["kind"] != r.kind) {
    return kube::BadRequestError("the kind in the data (" + obj["kind"].get<std::string>() +
                                 ") does not match the expected kind (" + r.kind + ")");
  }
  obj["apiVersion"] = r.ApiVersion();
  obj["kind"] = r.kind;
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  Json& meta = obj["metadata"];
  if (r.namespaced) {
    std::string ons = meta.value("namespace", "");
    if (!ons.empty() && ons != ns) {
      return kube::BadRequestError(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  if (meta.value("name", "").empty()) {
    std::string gen = meta.value("generateName", "");
    if (!gen.empty()) {
      if (gen.size() > 58) gen.resize(58);
      meta["name"] = gen + RandomNameSuffix();
    }
  }
  if (!meta.value("resourceVersion", "").empty()) {
    return kube::BadRequestError("resourceVersion should not be set on objects to be created");
  }
  for (const char* f : {"uid", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "generation", "creationTimestamp", "resourceVersion"}) {
    meta.erase(f);
  }
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = FormatRfc3339(clock_.WallNow());
  meta["generation"] = 1;
  if (meta.contains("labels") && meta["labels"].is_null()) meta.erase("labels");
  if (meta.contains("annotations") && meta["annotations"].is_null()) meta.erase("annotations");

  // Status on create.
  if (r.custom) {
    if (r.status_subresource) obj.erase("status");
  } else if (r.resource == "deployments") {
    obj["status"] = Json::object();
  } else if (r.resource == "pods") {
    obj["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
  } else if (r.resource == "services") {
    obj["status"] = {{"loadBalancer", Json::object()}};
  } else if (r.resource == "namespaces") {
    obj["status"] = {{"phase", "Active"}};
  } else if (r.resource == "customresourcedefinitions") {
    obj.erase("status");
  }
  if (r.resource == "secrets" && obj.contains("stringData") && obj["stringData"].is_object()) {
    for (const auto& [k, v] : obj["stringData"].items()) {
      obj["data"][k] = Base64Encode(v.get<std::string>(), false);
    }
    obj.erase("stringData");
  }
  if (r.resource == "services" && obj.contains("spec") && obj["spec"].is_object()) {
    Json& spec = obj["spec"];
    if (spec.value("type", "ClusterIP") != "ExternalName" && spec.value("clusterIP", "").empty()) {
      std::string ip = AllocateClusterIp();
      spec["clusterIP"] = ip;
      spec["clusterIPs"] = Json::array({ip});
    } else if (spec.contains("clusterIP") && !spec.contains("clusterIPs")) {
      spec["clusterIPs"] = Json::array({spec["clusterIP"]});
    }
  }
  if (auto st = ValidateAndDefault(r, obj, nullptr, opts, warnings); !st.ok()) return st;
  if (r.resource == "customresourcedefinitions") {
    auto f = Finalizers(obj);
    if (!Has(f, kCrdCleanupFinalizer)) f.push_back(kCrdCleanupFinalizer);
    SetFinalizers(obj, f);
    std::string storage;
    for (const auto& v : obj["spec"]["versions"]) {
      if (v.value("storage", false)) storage = v.value("name", "");
    }
    std::string now = FormatRfc3339(clock_.WallNow());
    obj["status"] = {{"acceptedNames", obj["spec"]["names"]},
                     {"conditions",
                      {{{"type", "NamesAccepted"},
                        {"status", "True"},
                        {"lastTransitionTime", now},
                        {"reason", "NoConflicts"},
                        {"message", "no conflicts found"}},
                       {{"type", "Established"},
                        {"status", "True"},
                        {"lastTransitionTime", now},
                        {"reason", "InitialNamesAccepted"},
                        {"message", "the initial names have been accepted"}}}},
                     {"storedVersions", Json::array({storage})}};
  }
  if (record_manager) {
    RecordUpdateManager(Json(), obj, FieldManager(opts, caller), r.ApiVersion(), clock_.WallNow());
  }
  return absl::OkStatus();
}

absl::Status Api::PrepareUpdate(const ResourceInfo& r, const Json& old, Json& obj,
                                const std::string& subresource, const WriteOpts& opts,
                                const Caller& caller, bool record_manager,
                                std::vector<std::string>* warnings) {
  if (auto st = CheckDecodeTypes(r, obj); !st.ok()) return st;
  if (obj.contains("apiVersion") && obj["apiVersion"].is_string() &&
      !obj["apiVersion"].get<std::string>().empty() && obj["apiVersion"] != r.ApiVersion()) {
    return kube::BadRequestError(
        "the API version in the data (" + obj["apiVersion"].get<std::string>() +
        ") does not match the expected API version (" + r.ApiVersion() + ")");
  }
  if (obj.contains("kind") && obj["kind"].is_string() && !obj["kind"].get<std::string>().empty() &&
      obj["kind"] != r.kind) {
    return kube::BadRequestError("the kind in the data (" + obj["kind"].get<std::string>() +
                                 ") does not match the expected kind (" + r.kind + ")");
  }
  obj["apiVersion"] = r.ApiVersion();
  obj["kind"] = r.kind;
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  Json& meta = obj["metadata"];
  const Json& ometa = old["metadata"];
  std::string uid = meta.value("uid", "");
  if (!uid.empty() && uid != ometa.value("uid", "")) {
    return kube::ConflictError(r.GroupResource(), ometa.value("name", ""),
                               "Precondition failed: UID in precondition: " + uid +
                                   ", UID in object meta: " + ometa.value("uid", ""));
  }
  if (r.namespaced) {
    std::string ns = meta.value("namespace", "");
    if (!ns.empty() && ns != ometa.value("namespace", "")) {
      return kube::BadRequestError(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
  }
  for (const char* f : {"name", "namespace", "uid", "creationTimestamp", "generation",
                        "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}) {
    if (ometa.contains(f)) {
      meta[f] = ometa[f];
    } else {
      meta.erase(f);
    }
  }
  if (!meta.contains("managedFields") && ometa.contains("managedFields")) {
    meta["managedFields"] = ometa["managedFields"];
  }
  if (meta.contains("labels") && meta["labels"].is_null()) meta.erase("labels");
  if (meta.contains("annotations") && meta["annotations"].is_null()) meta.erase("annotations");
  if (subresource == "status") {
    Json next = old;
    if (obj.contains("status")) {
      next["status"] = obj["status"];
    } else {
      next.erase("status");
    }
    if (meta.contains("managedFields")) next["metadata"]["managedFields"] = meta["managedFields"];
    obj = std::move(next);
  } else if (r.status_subresource) {
    if (old.contains("status")) {
      obj["status"] = old["status"];
    } else {
      obj.erase("status");
    }
  }
  // Finalizers on a deleting object may only be removed.
  if (IsDeleting(old)) {
    auto before = Finalizers(old);
    std::vector<std::string> added;
    for (const auto& f : Finalizers(obj)) {
      if (!Has(before, f)) added.push_back(f);
    }
    if (!added.empty()) {
      Json a = added;
      return kube::InvalidError(
          r.kind, r.group, ometa.value("name", ""),
          {{"FieldValueForbidden",
            "Forbidden: no new finalizers can be added if the object is being deleted, found "
            "new finalizers " +
                a.dump(),
            "metadata.finalizers"}});
    }
  }
  if (r.resource == "secrets" && obj.contains("stringData") && obj["stringData"].is_object()) {
    for (const auto& [k, v] : obj["stringData"].items()) {
      if (v.is_string()) obj["data"][k] = Base64Encode(v.get<std::string>(), false);
    }
    obj.erase("stringData");
  }
  if (r.resource == "services" && obj.contains("spec") && obj["spec"].is_object()) {
    Json& spec = obj["spec"];
    const Json* oip = GetPath(old, ".spec.clusterIP");
    if (spec.value("clusterIP", "").empty() && oip) {
      spec["clusterIP"] = *oip;
      if (const Json* oips = GetPath(old, ".spec.clusterIPs")) spec["clusterIPs"] = *oips;
    }
  }
  if (r.resource == "customresourcedefinitions" && subresource.empty()) {
    // The server owns CRD status.
    if (old.contains("status")) obj["status"] = old["status"];
    if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("names")) {
      obj["status"]["acceptedNames"] = obj["spec"]["names"];
    }
  }
  if (auto st = ValidateAndDefault(r, obj, &old, opts, warnings); !st.ok()) return st;
  int64_t gen = ometa.value("generation", int64_t{1});
  bool status_sub = r.status_subresource || r.resource == "customresourcedefinitions";
  // Changes outside metadata (and outside status when it is a subresource) bump generation.
  bool same_generation = status_sub ? SameObjectExcept(obj, old, {"metadata", "status"})
                                    : SameObjectExcept(obj, old, {"metadata"});
  if (!same_generation) ++gen;
  obj["metadata"]["generation"] = gen;
  if (record_manager && !SameExceptVolatile(obj, old)) {
    RecordUpdateManager(old, obj, FieldManager(opts, caller), r.ApiVersion(), clock_.WallNow());
  }
  return absl::OkStatus();
}

absl::Status Api::AfterCommit(const ResourceInfo& r, const ObjectPtr& before,
                              const ObjectPtr& after) {
  if (r.resource != "customresourcedefinitions" || r.group != "apiextensions.k8s.io") {
    return absl::OkStatus();
  }
  // Serve from the store's current state under one lock, so concurrent commits (a client's
  // delete and the cleanup controller's finalization) converge on the latest CRD.
  const ObjectPtr& any = after ? after : before;
  if (!any) return absl::OkStatus();
  std::string name = MetaStr(any->obj, "name");
  std::lock_guard lock(crd_mu_);
  ObjectPtr now = store_.Get({r.StorageKey(), "", name});
  if (now) {
    registry_.ServeCrd(now->obj);
  } else {
    const Json& spec = any->obj["spec"];
    registry_.UnserveCrd(name);
    store_.DropStorageKey(spec.value("group", "") + "/" +
                          spec.value("names", Json::object()).value("plural", ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<WriteResult> Api::CommitUpdate(const ResourceInfo& r, const ObjectKey& key,
                                              const ObjectPtr& cur, Json obj, bool dry_run) {
  WriteResult res;
  bool finalize = IsDeleting(obj) && Finalizers(obj).empty() &&
                  obj["metadata"].value("deletionGracePeriodSeconds", int64_t{0}) == 0;
  if (finalize && r.resource == "namespaces") {
    const Json* sf = GetPath(obj, ".spec.finalizers");
    if (sf && sf->is_array() && !sf->empty()) finalize = false;
  }
  if (dry_run) {
    res.object = std::move(obj);
    return res;
  }
  if (finalize) {
    auto d = store_.Delete(key, cur);
    if (!d.ok()) return d.status();
    (void)AfterCommit(r, cur, nullptr);
    res.object = AtVersion(r, *d)->obj;
    return res;
  }
  auto u = store_.Update(key, cur, std::move(obj));
  if (!u.ok()) return u.status();
  (void)AfterCommit(r, cur, *u);
  res.object = AtVersion(r, *u)->obj;
  return res;
}

absl::StatusOr<WriteResult> Api::UpdateLoop(
    const ResourceInfo& r, const std::string& ns, const std::string& name,
    const std::string& subresource, const WriteOpts& opts, const Caller& caller,
    const std::function<absl::StatusOr<Json>(const ObjectPtr& cur, bool* precondition)>& compute,
    bool record_manager) {
  ObjectKey key = KeyFor(r, ns, name);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    ObjectPtr cur = store_.Get(key);
    if (!cur) return kube::NotFoundError(r.GroupResource(), name);
    ObjectPtr curv = AtVersion(r, cur);
    bool precondition = false;
    auto next = compute(curv, &precondition);
    if (!next.ok()) return next.status();
    Json obj = std::move(*next);
    std::string rv = obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object()
                         ? obj["metadata"].value("resourceVersion", "")
                         : "";
    if (!rv.empty()) {
      precondition = true;
      if (rv != std::to_string(cur->rv)) {
        return kube::ConflictError(r.GroupResource(), name);
      }
    }
    std::vector<std::string> warnings;
    if (auto st =
            PrepareUpdate(r, curv->obj, obj, subresource, opts, caller, record_manager, &warnings);
        !st.ok()) {
      return st;
    }
    if (SameExceptVolatile(obj, curv->obj)) {
      WriteResult res;
      res.object = subresource == "scale" ? ToScale(r, curv->obj) : curv->obj;
      res.warnings = std::move(warnings);
      return res;
    }
    auto res = CommitUpdate(r, key, cur, std::move(obj), opts.dry_run);
    if (!res.ok()) {
      if (absl::IsAborted(res.status())) {
        if (precondition) return kube::ConflictError(r.GroupResource(), name);
        continue;
      }
      if (absl::IsNotFound(res.status())) return kube::NotFoundError(r.GroupResource(), name);
      return res.status();
    }
    if (subresource == "scale") res->object = ToScale(r, res->object);
    res->warnings = std::move(warnings);
    faults_.writes++;
    return res;
  }
  return kube::ConflictError(r.GroupResource(), name, "too many concurrent updates");
}

absl::StatusOr<WriteResult> Api::Create(const ResourceInfo& r, const std::string& ns, Json obj,
                                        const WriteOpts& opts, const Caller& caller) {
  if (auto st = CheckFault(r, "", "create", caller); !st.ok()) {
    return st;
  }
  if (r.namespaced && ns.empty()) {
    return kube::BadRequestError("a namespace is required to create " + r.GroupResource());
  }
  WriteResult res;
  if (auto st = PrepareCreate(r, ns, obj, opts, caller, true, &res.warnings); !st.ok()) return st;
  res.code = 201;
  std::string name = MetaStr(obj, "name");
  if (opts.dry_run) {
    if (r.namespaced && !store_.Get({"/namespaces", "", ns})) {
      return kube::NotFoundError("namespaces", ns);
    }
    if (store_.Get(KeyFor(r, ns, name))) return kube::AlreadyExistsError(r.GroupResource(), name);
    res.object = std::move(obj);
    return res;
  }
  auto stored = store_.Create(KeyFor(r, ns, name), std::move(obj), r.namespaced);
  if (!stored.ok()) {
    if (absl::IsAlreadyExists(stored.status())) {
      return kube::AlreadyExistsError(r.GroupResource(), name);
    }
    if (absl::IsNotFound(stored.status())) return kube::NotFoundError("namespaces", ns);
    if (absl::IsFailedPrecondition(stored.status())) {
      return kube::MakeApiError(403, "Forbidden",
                                r.GroupResource() + " \"" + name +
                                    "\" is forbidden: unable to create new content in namespace " +
                                    ns + " because it is being terminated",
                                {{"name", name},
                                 {"group", r.group},
                                 {"kind", r.resource},
                                 {"causes",
                                  {{{"reason", "NamespaceTerminating"},
                                    {"message", "namespace " + ns + " is being terminated"},
                                    {"field", "metadata.namespace"}}}}});
    }
    return stored.status();
  }
  (void)AfterCommit(r, nullptr, *stored);
  faults_.writes++;
  res.object = (*stored)->obj;
  return res;
}

absl::StatusOr<WriteResult> Api::Update(const ResourceInfo& r, const std::string& ns,
                                        const std::string& name, Json obj,
                                        const std::string& subresource, const WriteOpts& opts,
                                        const Caller& caller) {
  if (!ValidSubresource(r, subresource)) return NoSuchResource();
  if (auto st = CheckFault(r, subresource, "update", caller); !st.ok()) {
    return st;
  }
  if (!obj.is_object()) {
    return kube::BadRequestError("the body of an update must be a JSON object");
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  std::string bname = obj["metadata"].value("name", "");
  if (bname.empty()) {
    obj["metadata"]["name"] = name;
  } else if (bname != name) {
    return kube::BadRequestError("the name of the object (" + bname +
                                 ") does not match the name on the URL (" + name + ")");
  }
  bool need_rv = r.custom && subresource != "scale";
  if (need_rv && obj["metadata"].value("resourceVersion", "").empty()) {
    return kube::InvalidError(
        r.kind, r.group, name,
        {{"FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
          "metadata.resourceVersion"}});
  }
  return UpdateLoop(
      r, ns, name, subresource, opts, caller,
      [&](const ObjectPtr& cur, bool*) -> absl::StatusOr<Json> {
        if (subresource == "scale") return ApplyScale(r, cur->obj, obj);
        return obj;
      },
      true);
}

absl::StatusOr<WriteResult> Api::Patch(const ResourceInfo& r, const std::string& ns,
                                       const std::string& name, kube::PatchType type,
                                       const Json& patch, const std::string& subresource,
                                       const WriteOpts& opts, const Caller& caller) {
  if (!ValidSubresource(r, subresource)) return NoSuchResource();
  if (auto st = CheckFault(r, subresource, "patch", caller); !st.ok()) {
    return st;
  }
  if (type == kube::PatchType::kStrategicMerge && r.custom) {
    return kube::UnsupportedMediaTypeError("application/strategic-merge-patch+json");
  }
  if (type == kube::PatchType::kApply) {
    if (opts.field_manager.empty()) {
      return kube::BadRequestError(
          "PATCH requests of type apply-patch+yaml must specify a fieldManager (the "
          "fieldManager query parameter is required for server-side apply)");
    }
    if (!patch.is_object()) {
      return kube::BadRequestError("the applied configuration must be an object, not " +
                                   std::string(patch.type_name()));
    }
    Json applied = patch;
    if (auto st = CheckDecodeTypes(r, applied); !st.ok()) return st;
    if (applied.value("apiVersion", "") != r.ApiVersion() || applied.value("kind", "") != r.kind) {
      return kube::BadRequestError("the applied configuration's apiVersion/kind (" +
                                   applied.value("apiVersion", "") + ", " +
                                   applied.value("kind", "") + ") do not match the request (" +
                                   r.ApiVersion() + ", " + r.kind + ")");
    }
    std::string aname = MetaStr(applied, "name");
    if (!aname.empty() && aname != name) {
      return kube::BadRequestError("the name of the object (" + aname +
                                   ") does not match the name on the URL (" + name + ")");
    }
    applied["metadata"]["name"] = name;
    if (r.namespaced) {
      std::string ans = MetaStr(applied, "namespace");
      if (!ans.empty() && ans != ns) {
        return kube::BadRequestError(
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
      }
      applied["metadata"]["namespace"] = ns;
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
      ObjectPtr cur = store_.Get(KeyFor(r, ns, name));
      if (!cur) {
        if (!subresource.empty()) return kube::NotFoundError(r.GroupResource(), name);
        auto merged = ServerSideApply(Json(), applied, opts.field_manager, opts.force, r.kind,
                                      clock_.WallNow());
        if (!merged.ok()) return merged.status();
        Json obj = std::move(*merged);
        WriteResult res;
        if (auto st = PrepareCreate(r, ns, obj, opts, caller, false, &res.warnings); !st.ok()) {
          return st;
        }
        res.code = 201;
        if (opts.dry_run) {
          res.object = std::move(obj);
          return res;
        }
        auto stored = store_.Create(KeyFor(r, ns, name), std::move(obj), r.namespaced);
        if (!stored.ok()) {
          if (absl::IsAlreadyExists(stored.status())) continue;
          if (absl::IsNotFound(stored.status())) return kube::NotFoundError("namespaces", ns);
          if (absl::IsFailedPrecondition(stored.status())) {
            return kube::ForbiddenError(r.GroupResource() + " \"" + name +
                                        "\" is forbidden: unable to create new content in "
                                        "namespace " +
                                        ns + " because it is being terminated");
          }
          return stored.status();
        }
        (void)AfterCommit(r, nullptr, *stored);
        faults_.writes++;
        res.object = (*stored)->obj;
        return res;
      }
      auto res = UpdateLoop(
          r, ns, name, subresource, opts, caller,
          [&](const ObjectPtr& c, bool*) -> absl::StatusOr<Json> {
            auto merged = ServerSideApply(c->obj, applied, opts.field_manager, opts.force, r.kind,
                                          clock_.WallNow());
            if (!merged.ok()) return merged.status();
            // Apply carries a precondition only when the configuration names a version.
            if (MetaStr(applied, "resourceVersion").empty()) {
              (*merged)["metadata"].erase("resourceVersion");
            }
            return merged;
          },
          false);
      if (!res.ok() && absl::IsNotFound(res.status())) continue;
      return res;
    }
    return kube::ConflictError(r.GroupResource(), name, "too many concurrent updates");
  }
  if (type == kube::PatchType::kMerge && !patch.is_object()) {
    return kube::BadRequestError("a merge patch must be a JSON object, not " +
                                 std::string(patch.type_name()));
  }
  if (type == kube::PatchType::kJson && !patch.is_array()) {
    return kube::BadRequestError("a JSON patch must be a JSON array of operations, not " +
                                 std::string(patch.type_name()));
  }
  if (type == kube::PatchType::kStrategicMerge && !patch.is_object()) {
    return kube::BadRequestError("a strategic merge patch must be a JSON object, not " +
                                 std::string(patch.type_name()));
  }
  return UpdateLoop(
      r, ns, name, subresource, opts, caller,
      [&](const ObjectPtr& cur, bool*) -> absl::StatusOr<Json> {
        // The stored object is patched from a reference: copying it here would be a second
        // deep copy per write (merge patches copy it into `patched` anyway).
        Json scale_view;
        if (subresource == "scale") scale_view = ToScale(r, cur->obj);
        const Json& base = subresource == "scale" ? scale_view : cur->obj;
        Json patched;
        switch (type) {
          case kube::PatchType::kMerge:
            patched = base;
            patched.merge_patch(patch);
            break;
          case kube::PatchType::kJson:
            try {
              patched = base.patch(patch);
            } catch (const Json::parse_error& e) {
              return kube::BadRequestError(std::string("invalid JSON patch: ") + e.what());
            } catch (const Json::exception& e) {
              return kube::MakeApiError(422, "Invalid", std::string(e.what()));
            }
            break;
          case kube::PatchType::kStrategicMerge: {
            auto p = StrategicMergePatch(base, patch, subresource == "scale" ? "Scale" : r.kind);
            if (!p.ok()) {
              if (kube::HttpCode(p.status()) != 0) return p.status();
              return kube::BadRequestError(std::string(p.status().message()));
            }
            patched = std::move(*p);
            break;
          }
          case kube::PatchType::kApply:
            break;
        }
        if (!patched.is_object()) {
          return kube::BadRequestError("the patched object must be a JSON object");
        }
        // A patch is a precondition only if it changes metadata.resourceVersion; otherwise a
        // concurrent write makes the server re-apply it to the new state.
        if (patched.contains("metadata") && patched["metadata"].is_object() &&
            patched["metadata"].value("resourceVersion", "") == std::to_string(cur->rv)) {
          patched["metadata"].erase("resourceVersion");
        }
        if (subresource == "scale") return ApplyScale(r, cur->obj, patched);
        return patched;
      },
      true);
}

// ---------------------------------------------------------------------------------------------
// Delete

absl::StatusOr<WriteResult> Api::DeleteOnce(const ResourceInfo& r, const ObjectKey& key,
                                            const DeleteOpts& opts) {
  ObjectPtr cur = store_.Get(key);
  if (!cur) return kube::NotFoundError(r.GroupResource(), key.name);
  const Json& meta = cur->obj["metadata"];
  if (!opts.precondition_uid.empty() && opts.precondition_uid != meta.value("uid", "")) {
    return kube::ConflictError(
        r.GroupResource(), key.name,
        "Precondition failed: UID in precondition: " + opts.precondition_uid +
            ", UID in object meta: " + meta.value("uid", ""));
  }
  if (!opts.precondition_rv.empty() && opts.precondition_rv != std::to_string(cur->rv)) {
    return kube::ConflictError(
        r.GroupResource(), key.name,
        "Precondition failed: ResourceVersion in precondition: " + opts.precondition_rv +
            ", ResourceVersion in object meta: " + std::to_string(cur->rv));
  }
  WriteResult res;
  if (opts.dry_run) {
    res.object = AtVersion(r, cur)->obj;
    return res;
  }
  Json o = cur->obj;
  auto fin = Finalizers(o);
  auto before = fin;
  if (opts.propagation == "Foreground") {
    Remove(fin, kOrphanFinalizer);
    if (!Has(fin, kForegroundFinalizer)) fin.push_back(kForegroundFinalizer);
  } else if (opts.propagation == "Orphan") {
    Remove(fin, kForegroundFinalizer);
    if (!Has(fin, kOrphanFinalizer)) fin.push_back(kOrphanFinalizer);
  } else if (opts.propagation == "Background" && !IsDeleting(o)) {
    Remove(fin, kOrphanFinalizer);
    Remove(fin, kForegroundFinalizer);
  }
  bool is_ns = r.resource == "namespaces" && r.group.empty();
  int64_t grace = 0;
  bool graceful = false;
  if (r.resource == "pods" && r.group.empty()) {
    const Json* node = GetPath(o, ".spec.nodeName");
    const Json* phase = GetPath(o, ".status.phase");
    std::string ph = phase && phase->is_string() ? phase->get<std::string>() : "";
    if (node && node->is_string() && !node->get<std::string>().empty() && ph != "Succeeded" &&
        ph != "Failed") {
      const Json* tg = GetPath(o, ".spec.terminationGracePeriodSeconds");
      grace = opts.grace_period_seconds.value_or(tg && tg->is_number_integer() ? tg->get<int64_t>()
                                                                               : 30);
      graceful = grace > 0;
    }
  }
  auto update = [&](Json next) -> absl::StatusOr<WriteResult> {
    auto c = CommitUpdate(r, key, cur, std::move(next), false);
    if (!c.ok()) return c.status();
    faults_.writes++;
    return c;
  };
  if (IsDeleting(o)) {
    bool changed = fin != before;
    if (r.resource == "pods" && opts.grace_period_seconds) {
      int64_t curg = meta.value("deletionGracePeriodSeconds", int64_t{0});
      if (*opts.grace_period_seconds < curg) {
        o["metadata"]["deletionGracePeriodSeconds"] = *opts.grace_period_seconds;
        changed = true;
      }
    }
    if (!changed) {
      res.object = AtVersion(r, cur)->obj;
      return res;
    }
    SetFinalizers(o, fin);
    return update(std::move(o));
  }
  if (!fin.empty() || is_ns || graceful) {
    auto now = clock_.WallNow();
    o["metadata"]["deletionTimestamp"] = FormatRfc3339(now + std::chrono::seconds(grace));
    o["metadata"]["deletionGracePeriodSeconds"] = graceful ? grace : 0;
    SetFinalizers(o, fin);
    if (is_ns) o["status"]["phase"] = "Terminating";
    return update(std::move(o));
  }
  auto d = store_.Delete(key, cur);
  if (!d.ok()) return d.status();
  (void)AfterCommit(r, cur, nullptr);
  faults_.writes++;
  if (r.return_deleted_object) {
    res.object = AtVersion(r, *d)->obj;
  } else {
    res.object = {{"kind", "Status"},
                  {"apiVersion", "v1"},
                  {"metadata", Json::object()},
                  {"status", "Success"},
                  {"details",
                   {{"name", key.name},
                    {"group", r.group},
                    {"kind", r.resource},
                    {"uid", meta.value("uid", "")}}}};
  }
  return res;
}

absl::StatusOr<WriteResult> Api::Delete(const ResourceInfo& r, const std::string& ns,
                                        const std::string& name, const DeleteOpts& opts,
                                        const Caller& caller) {
  if (auto st = CheckFault(r, "", "delete", caller); !st.ok()) {
    return st;
  }
  if (!opts.propagation.empty() && opts.propagation != "Background" &&
      opts.propagation != "Foreground" && opts.propagation != "Orphan") {
    return kube::BadRequestError("propagationPolicy: Unsupported value: \"" + opts.propagation +
                                 "\": supported values: \"Foreground\", \"Background\", "
                                 "\"Orphan\"");
  }
  if (opts.grace_period_seconds && *opts.grace_period_seconds < 0) {
    return kube::BadRequestError("gracePeriodSeconds: Invalid value: must be >= 0");
  }
  ObjectKey key = KeyFor(r, ns, name);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto res = DeleteOnce(r, key, opts);
    if (!res.ok() && absl::IsAborted(res.status()) && kube::HttpCode(res.status()) == 0) continue;
    if (!res.ok() && absl::IsNotFound(res.status()) && kube::HttpCode(res.status()) == 0) {
      return kube::NotFoundError(r.GroupResource(), name);
    }
    return res;
  }
  return kube::ConflictError(r.GroupResource(), name, "too many concurrent updates");
}

absl::StatusOr<Json> Api::DeleteCollection(const ResourceInfo& r, const std::string& ns,
                                           const kube::ListOptions& list, const DeleteOpts& opts,
                                           const Caller& caller) {
  if (std::find(r.verbs.begin(), r.verbs.end(), "deletecollection") == r.verbs.end()) {
    return kube::MethodNotAllowedError(
        "the server does not allow this method on the requested "
        "resource");
  }
  if (auto st = CheckFault(r, "", "deletecollection", caller); !st.ok()) {
    return st;
  }
  kube::ListOptions lo = list;
  lo.limit = 0;
  lo.continue_token.clear();
  auto items = List(r, ns, lo);
  if (!items.ok()) return items.status();
  Json out = {{"kind", r.list_kind},
              {"apiVersion", r.ApiVersion()},
              {"metadata", Json::object()},
              {"items", Json::array()}};
  for (const auto& o : items->items) {
    auto d = Delete(r, MetaStr(o->obj, "namespace"), MetaStr(o->obj, "name"), opts, caller);
    if (!d.ok()) {
      if (absl::IsNotFound(d.status())) continue;
      return d.status();
    }
    out["items"].push_back(d->object.value("kind", "") == "Status" ? o->obj : d->object);
  }
  out["metadata"]["resourceVersion"] = std::to_string(store_.CurrentRv());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Watch

absl::StatusOr<WatcherPtr> Api::Watch(const ResourceInfo& r, const std::string& ns,
                                      const WatchOpts& opts) {
  const std::string& rv = opts.resource_version;
  if (!opts.resource_version_match.empty() && opts.resource_version_match != "NotOlderThan") {
    return kube::BadRequestError(
        "resourceVersionMatch: Unsupported value: \"" + opts.resource_version_match +
        "\": only NotOlderThan is supported for watch (with sendInitialEvents=true)");
  }
  if (opts.send_initial_events && opts.resource_version_match != "NotOlderThan") {
    return kube::BadRequestError(
        "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless "
        "resourceVersionMatch is set to NotOlderThan");
  }
  if (opts.send_initial_events && !opts.allow_bookmarks) {
    return kube::BadRequestError(
        "allowWatchBookmarks: Forbidden: allowWatchBookmarks must be true when "
        "sendInitialEvents is set");
  }
  auto ls = ParseLabelSelector(opts.label_selector);
  if (!ls.ok()) return ls.status();
  std::string field_sel = opts.field_selector;
  if (!opts.name.empty()) {
    field_sel = field_sel.empty() ? "metadata.name=" + opts.name
                                  : field_sel + ",metadata.name=" + opts.name;
  }
  auto fs = ParseFieldSelector(r, field_sel);
  if (!fs.ok()) return fs.status();
  auto want = ParseRv(rv);
  if (!want.ok()) return want.status();
  WatchFilter filter;
  filter.storage_key = r.StorageKey();
  filter.ns = r.namespaced ? ns : "";
  filter.labels = *ls;
  filter.fields = *fs;
  std::optional<uint64_t> from;
  if (!opts.send_initial_events && *want > 0) from = *want;
  if (opts.send_initial_events && *want > 0) {
    uint64_t cur = store_.CurrentRv();
    if (*want > cur) return TooLargeRv(*want, cur);
  }
  auto w = store_.Watch(std::move(filter), from, opts.allow_bookmarks, opts.send_initial_events);
  if (w.ok()) faults_.watches_opened++;
  return w;
}

// ---------------------------------------------------------------------------------------------
// Scale

Json Api::ToScale(const ResourceInfo& r, const Json& obj) const {
  const Json& meta = obj["metadata"];
  Json scale = {{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}};
  Json m = Json::object();
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (meta.contains(f)) m[f] = meta[f];
  }
  scale["metadata"] = m;
  const Json* sr = GetPath(obj, r.spec_replicas_path);
  scale["spec"] = {{"replicas", sr && sr->is_number_integer() ? sr->get<int64_t>() : 0}};
  const Json* st = GetPath(obj, r.status_replicas_path);
  Json status = {{"replicas", st && st->is_number_integer() ? st->get<int64_t>() : 0}};
  if (r.custom) {
    if (!r.label_selector_path.empty()) {
      const Json* sel = GetPath(obj, r.label_selector_path);
      if (sel && sel->is_string()) status["selector"] = *sel;
    }
  } else if (const Json* sel = GetPath(obj, ".spec.selector")) {
    auto ls = kube::LabelSelector::FromJson(*sel);
    if (ls.ok()) status["selector"] = ls->String();
  }
  scale["status"] = status;
  return scale;
}

absl::StatusOr<Json> Api::ApplyScale(const ResourceInfo& r, const Json& obj,
                                     const Json& scale) const {
  std::string name = MetaStr(obj, "name");
  if (!scale.is_object()) return kube::BadRequestError("the body must be a Scale object");
  if (scale.contains("kind") && scale["kind"].is_string() && scale["kind"] != "Scale") {
    return kube::BadRequestError("the kind in the data (" + scale["kind"].get<std::string>() +
                                 ") does not match the expected kind (Scale)");
  }
  const Json* rep = GetPath(scale, ".spec.replicas");
  int64_t replicas = 0;
  if (rep && !rep->is_null()) {
    if (!rep->is_number_integer()) {
      return kube::BadRequestError(
          "Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal " +
          std::string(rep->type_name()) +
          " into Go struct field ScaleSpec.spec.replicas of type int32");
    }
    replicas = rep->get<int64_t>();
  }
  if (replicas < 0) {
    return kube::InvalidError(
        "Scale", "autoscaling", name,
        {{"FieldValueInvalid",
          "Invalid value: " + std::to_string(replicas) + ": must be greater than or equal to 0",
          "spec.replicas"}});
  }
  std::string sname = MetaStr(scale, "name");
  if (!sname.empty() && sname != name) {
    return kube::BadRequestError("the name of the object (" + sname +
                                 ") does not match the name on the URL (" + name + ")");
  }
  Json out = obj;
  SetPath(out, r.spec_replicas_path, replicas);
  std::string rv = MetaStr(scale, "resourceVersion");
  if (!rv.empty()) {
    out["metadata"]["resourceVersion"] = rv;
  } else {
    out["metadata"].erase("resourceVersion");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Controllers' helper, logs, preload

absl::StatusOr<ObjectPtr> Api::Mutate(const ResourceInfo& r, const ObjectKey& key,
                                      const std::function<bool(Json&)>& mutate,
                                      const std::string& manager) {
  (void)manager;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    ObjectPtr cur = store_.Get(key);
    if (!cur) return kube::NotFoundError(r.GroupResource(), key.name);
    Json o = cur->obj;
    if (!mutate(o)) return cur;
    auto res = CommitUpdate(r, key, cur, std::move(o), false);
    if (!res.ok()) {
      if (absl::IsAborted(res.status())) continue;
      if (absl::IsNotFound(res.status())) return kube::NotFoundError(r.GroupResource(), key.name);
      return res.status();
    }
    return store_.Get(key);
  }
  return kube::ConflictError(r.GroupResource(), key.name, "too many concurrent updates");
}

std::string Api::LogPath(const std::string& ns, const std::string& pod,
                         const std::string& container) const {
  return opts_.log_dir + "/" + ns + "_" + pod + "_" + container + ".log";
}

absl::StatusOr<std::string> Api::ResolvePodLog(const std::string& ns, const std::string& pod,
                                               std::string container) {
  ObjectPtr o = store_.Get({"/pods", ns, pod});
  if (!o) return kube::NotFoundError("pods", pod);
  std::vector<std::string> names, init;
  if (const Json* cs = GetPath(o->obj, ".spec.containers"); cs && cs->is_array()) {
    for (const auto& c : *cs) names.push_back(c.value("name", ""));
  }
  if (const Json* cs = GetPath(o->obj, ".spec.initContainers"); cs && cs->is_array()) {
    for (const auto& c : *cs) init.push_back(c.value("name", ""));
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
    return s + "]";
  };
  if (container.empty()) {
    if (names.size() == 1) {
      container = names[0];
    } else {
      std::string msg =
          "a container name must be specified for pod " + pod + ", choose one of: " + join(names);
      if (!init.empty()) msg += " or one of the init containers: " + join(init);
      return kube::BadRequestError(msg);
    }
  }
  if (!Has(names, container) && !Has(init, container)) {
    return kube::BadRequestError("container " + container + " is not valid for pod " + pod);
  }
  return LogPath(ns, pod, container);
}

absl::Status Api::Preload(const std::string& text, const std::string& source) {
  auto docs = YamlDocumentsToJson(text);
  if (!docs.ok()) {
    return absl::InvalidArgumentError(source + ": " + std::string(docs.status().message()));
  }
  std::vector<Json> items;
  for (auto& d : *docs) {
    if (d.is_object() && d.value("kind", "").ends_with("List") && d.contains("items")) {
      for (auto& i : d["items"]) items.push_back(i);
    } else if (!d.is_null()) {
      items.push_back(std::move(d));
    }
  }
  auto rank = [](const Json& o) {
    std::string k = o.is_object() ? o.value("kind", "") : "";
    if (k == "CustomResourceDefinition") return 0;
    if (k == "Namespace") return 1;
    return 2;
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const Json& a, const Json& b) { return rank(a) < rank(b); });
  Caller caller{"system:admin", "kfaas-local-preload"};
  for (auto& o : items) {
    if (!o.is_object()) {
      return absl::InvalidArgumentError(source + ": a manifest document is not an object");
    }
    auto r = registry_.FindByKind(o.value("apiVersion", ""), o.value("kind", ""));
    if (!r) {
      return absl::InvalidArgumentError(source + ": no resource serves apiVersion \"" +
                                        o.value("apiVersion", "") + "\" kind \"" +
                                        o.value("kind", "") + "\"");
    }
    std::string ns = r->namespaced ? MetaStr(o, "namespace") : "";
    if (r->namespaced && ns.empty()) ns = "default";
    WriteOpts wo;
    wo.field_manager = "kfaas-local-preload";
    wo.validation = FieldValidation::kStrict;
    auto res = Create(*r, ns, o, wo, caller);
    if (!res.ok() && !absl::IsAlreadyExists(res.status())) {
      return absl::InvalidArgumentError(source + ": " + r->kind + " \"" + MetaStr(o, "name") +
                                        "\": " + std::string(res.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace kfaas::local
