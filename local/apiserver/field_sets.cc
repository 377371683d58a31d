#include "local/apiserver/field_sets.h"

#include <algorithm>
#include <functional>

#include "common/base/time_format.h"
#include "common/kube/errors.h"
#include "common/kube/selector.h"
#include "local/apiserver/go_format.h"

namespace kfaas::local::fieldsets {

void BadRequest(const std::string& msg) { throw ApplyError{kube::BadRequestError(msg)}; }

// JSON text of a value with numbers as Go writes them (80, not 80.0).
std::string Canonical(const Json& v) {
  switch (v.type()) {
    case Json::value_t::number_float:
      return gofmt::JsonFloat(v.get<double>());
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ",";
        first = false;
        out += Json(it.key()).dump() + ":" + Canonical(it.value());
      }
      return out + "}";
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ",";
        out += Canonical(v[i]);
      }
      return out + "]";
    }
    default:
      return v.dump();
  }
}

bool Declared(const Type* t, const std::string& name) {
  if (!t) return true;
  if (t->fields.count(name)) return true;
  return !t->is_map;
}

// ---- paths as text (fieldpath.Path.String) ----

// value.ToString.
std::string ValueToString(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::string:
      return kube::GoQuote(v.get<std::string>());
    case Json::value_t::number_float:
      return gofmt::FloatV(v.get<double>());
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ",";
        out += ValueToString(v[i]);
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out;
      for (auto it = v.begin(); it != v.end(); ++it) out += it.key() + "=" + ValueToString(*it);
      return out;
    }
    default:
      return v.dump();
  }
}

std::string PathString(const Path& p) {
  std::string out;
  for (const auto& e : p) {
    if (e.size() < 2) continue;
    std::string body = e.substr(2);
    switch (e[0]) {
      case 'f':
        out += "." + body;
        break;
      case 'k': {
        Json key = Json::parse(body, nullptr, false);
        std::vector<std::string> parts;
        if (key.is_object()) {
          for (auto it = key.begin(); it != key.end(); ++it) {
            parts.push_back(it.key() + "=" + ValueToString(*it));
          }
        }
        std::string joined;
        for (size_t i = 0; i < parts.size(); ++i) joined += (i ? "," : "") + parts[i];
        out += "[" + joined + "]";
        break;
      }
      case 'v': {
        Json val = Json::parse(body, nullptr, false);
        out += "[=" + (val.is_discarded() ? body : ValueToString(val)) + "]";
        break;
      }
      case 'i':
        out += "[" + body + "]";
        break;
      default:
        out += e;
    }
  }
  return out;
}

// ---- field sets of values (typed.TypedValue.ToFieldSet) ----

// The fields the field manager never tracks (apiserver stripmeta).
PathSet StripSet() {
  PathSet s;
  for (const char* f : {"apiVersion", "kind", "metadata"}) s.insert({std::string("f:") + f});
  for (const char* f : {"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                        "generation", "managedFields", "resourceVersion"}) {
    s.insert({"f:metadata", std::string("f:") + f});
  }
  return s;
}

PathSet Difference(const PathSet& a, const PathSet& b) {
  PathSet out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}
PathSet Intersection(const PathSet& a, const PathSet& b) {
  PathSet out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}
PathSet Union(const PathSet& a, const PathSet& b) {
  PathSet out = a;
  out.insert(b.begin(), b.end());
  return out;
}

PathSet FieldSetOf(const Json& obj, const Type* t, bool strict, const std::string& gvk) {
  WalkResult w;
  FieldSetWalker(strict, gvk).Run(obj, t, w);
  return Difference(w.members, StripSet());
}

bool SameValue(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return gofmt::AsDouble(a) == gofmt::AsDouble(b);
  return a == b;
}

namespace {

// Erases the members of `strip` from `s` in place (a handful of paths).
void EraseAll(PathSet& s, const PathSet& strip) {
  if (s.empty()) return;
  for (const auto& p : strip) s.erase(p);
}

Comparison CompareWalks(WalkResult& wb, WalkResult& wa) {
  Comparison c;
  static const PathSet kStrip = StripSet();
  if (!wa.leaves_and_all || wb.all.empty()) {
    // Nothing before (a create): everything after is added. The walks are moved from, not
    // copied: a created object has hundreds of paths.
    c.added = std::move(wa.members);
    c.added.insert(wa.maps.begin(), wa.maps.end());
    EraseAll(c.added, kStrip);
    return c;
  }
  c.added = Difference(wa.members, wb.members);
  c.removed = Difference(wb.members, wa.members);
  // The paths in both: walk the two sorted sets together.
  auto b = wb.members.begin(), a = wa.members.begin();
  while (b != wb.members.end() && a != wa.members.end()) {
    if (*b < *a) {
      ++b;
    } else if (*a < *b) {
      ++a;
    } else {
      const Path& p = *a;
      auto lb = wb.leaves.find(p);
      auto la = wa.leaves.find(p);
      bool leaf_b = lb != wb.leaves.end(), leaf_a = la != wa.leaves.end();
      if (leaf_b != leaf_a || (leaf_b && !SameValue(*lb->second, *la->second))) {
        c.modified.insert(p);
      }
      ++a;
      ++b;
    }
  }
  // structured-merge-diff also records a map that appears or disappears as a whole (this is
  // where the ".": {} of labels/annotations/data in Update entries comes from). Structs are
  // not recorded: in Go the "empty" object already has them.
  for (const auto& p : wa.maps) {
    if (!wb.all.count(p)) c.added.insert(p);
  }
  for (const auto& p : wb.maps) {
    if (!wa.all.count(p)) c.removed.insert(p);
  }
  EraseAll(c.added, kStrip);
  EraseAll(c.removed, kStrip);
  EraseAll(c.modified, kStrip);
  return c;
}

}  // namespace

Comparison Compare(const Json& before, const Json& after, const Type* t,
                   bool ignore_managed_fields) {
  WalkResult wb, wa;
  // Against an empty document (a create) everything is added: no leaves or values to compare.
  bool nothing_before = before.is_object() || before.is_array() ? before.empty() : true;
  if (nothing_before) wa.leaves_and_all = false;
  FieldSetWalker(false, "").RunAgainst(before, after, t, ignore_managed_fields, wb);
  FieldSetWalker(false, "").RunAgainst(after, before, t, ignore_managed_fields, wa);
  return CompareWalks(wb, wa);
}

Comparison CompareFullWalk(const Json& before, const Json& after, const Type* t) {
  WalkResult wb, wa;
  FieldSetWalker(false, "").Run(before, t, wb);
  FieldSetWalker(false, "").Run(after, t, wa);
  return CompareWalks(wb, wa);
}

// Adds every proper prefix ending in a declared (struct) field: what
// fieldpath.Set.EnsureNamedFieldsAreMembers does.
PathSet EnsureNamedFieldsAreMembers(const PathSet& s, const Type* root) {
  PathSet out = s;
  for (const auto& p : s) {
    const Type* t = root;
    const Field* f = nullptr;
    for (size_t i = 0; i + 1 < p.size(); ++i) {
      const std::string& e = p[i];
      if (e.rfind("f:", 0) == 0) {
        std::string name = e.substr(2);
        bool declared = Declared(t, name);
        f = types::FindField(t, name);
        t = types::ChildType(t, name);
        if (declared) out.insert(Path(p.begin(), p.begin() + static_cast<long>(i) + 1));
      } else {
        t = f && f->type ? f->type : types::Unknown();
        f = nullptr;
      }
    }
  }
  return out;
}

// ---- removing items at paths (typed.TypedValue.RemoveItems) ----

void RemovePath(Json& obj, const Path& p, const Type* root) {
  Json* cur = &obj;
  const Type* t = root;
  const Field* f = nullptr;
  FieldSetWalker keys(false, "");
  for (size_t i = 0; i < p.size(); ++i) {
    const std::string& e = p[i];
    bool last = i + 1 == p.size();
    if (e.rfind("f:", 0) == 0) {
      if (!cur->is_object()) return;
      std::string name = e.substr(2);
      auto it = cur->find(name);
      if (it == cur->end()) return;
      if (last) {
        cur->erase(it);
        return;
      }
      f = types::FindField(t, name);
      t = types::ChildType(t, name);
      cur = &*it;
    } else {
      if (!cur->is_array() || !f) return;
      size_t found = cur->size();
      for (size_t k = 0; k < cur->size(); ++k) {
        auto pe = keys.ItemElement((*cur)[k], *f, {}, k);
        if (pe && *pe == e) {
          found = k;
          break;
        }
      }
      if (found == cur->size()) return;
      if (last) {
        cur->erase(found);
        return;
      }
      t = f->type ? f->type : types::Unknown();
      f = nullptr;
      cur = &(*cur)[found];
    }
  }
}

// ---- managedFields ----

std::string Identity(const Entry& e) {
  return e.manager + '\0' + e.operation + '\0' + (e.operation == "Apply" ? "" : e.api_version) +
         '\0' + e.subresource;
}

void DecodeFields(const Json& node, Path& path, PathSet& out, int depth) {
  if (!node.is_object() || depth > kMaxDepth) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key() == ".") {
      if (!path.empty()) out.insert(path);
      continue;
    }
    path.push_back(it.key());
    if (it->is_object() && it->empty()) {
      out.insert(path);
    } else {
      DecodeFields(*it, path, out, depth + 1);
    }
    path.pop_back();
  }
}

Json EncodeFields(const PathSet& set) {
  // A trie of the members; a member with children gets ".": {}. The set is sorted, so a path
  // comes before the paths it is a prefix of: a node that is an empty object when a child is
  // first added to it is a member leaf from an earlier path, and gets its ".".
  Json root = Json::object();
  for (const auto& p : set) {
    Json* n = &root;
    bool fresh = false;  // n was created by this path
    for (const auto& e : p) {
      auto it = n->find(e);
      if (it == n->end()) {
        if (!fresh && n != &root && n->empty()) (*n)["."] = Json::object();
        n = &(*n)[e];
        *n = Json::object();
        fresh = true;
      } else {
        n = &*it;
        fresh = false;
      }
    }
  }
  return root;
}

// Decodes metadata.managedFields; malformed entries are dropped, like fields a decoder skips.
std::map<std::string, Entry> DecodeManagedFields(const Json& obj, bool* ok) {
  std::map<std::string, Entry> out;
  *ok = false;
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return out;
  const Json& meta = obj["metadata"];
  auto mf = meta.find("managedFields");
  if (mf == meta.end() || !mf->is_array()) return out;
  *ok = true;
  for (const auto& e : *mf) {
    if (!e.is_object()) {
      *ok = false;
      continue;
    }
    Entry entry;
    auto str = [&](const char* k) {
      auto it = e.find(k);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    entry.manager = str("manager");
    entry.operation = str("operation");
    entry.api_version = str("apiVersion");
    entry.subresource = str("subresource");
    entry.time = str("time");
    if (entry.operation != "Apply" && entry.operation != "Update") {
      *ok = false;
      continue;
    }
    if (auto f = e.find("fieldsV1"); f != e.end()) {
      Path p;
      DecodeFields(*f, p, entry.set, 0);
    }
    std::string id = Identity(entry);
    auto [it, inserted] = out.emplace(id, entry);
    if (!inserted) it->second.set.insert(entry.set.begin(), entry.set.end());
  }
  return out;
}

long long TimeSeconds(const std::string& t) {
  auto w = ParseRfc3339(t);
  if (!w) return 0;
  return std::chrono::duration_cast<std::chrono::seconds>(w->time_since_epoch()).count();
}

bool ManagerOrderLess(const Entry& p, const Entry& q) {
  if (p.operation != q.operation) return p.operation < q.operation;
  long long ps = TimeSeconds(p.time), qs = TimeSeconds(q.time);
  if (ps != qs) return ps < qs;
  if (p.manager != q.manager) return p.manager < q.manager;
  if (p.api_version != q.api_version) return p.api_version < q.api_version;
  return p.subresource < q.subresource;
}

Json EncodeEntry(const Entry& e) {
  Json j = {{"manager", e.manager},
            {"operation", e.operation},
            {"apiVersion", e.api_version},
            {"fieldsType", "FieldsV1"},
            {"fieldsV1", EncodeFields(e.set)}};
  if (!e.time.empty()) j["time"] = e.time;
  if (!e.subresource.empty()) j["subresource"] = e.subresource;
  return j;
}

void EncodeManagedFields(Json& obj, const std::map<std::string, Entry>& managers) {
  std::vector<const Entry*> entries;
  for (const auto& [id, e] : managers) {
    if (!e.set.empty()) entries.push_back(&e);
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry* p, const Entry* q) { return ManagerOrderLess(*p, *q); });
  if (!obj["metadata"].is_object()) obj["metadata"] = Json::object();
  if (entries.empty()) {
    obj["metadata"].erase("managedFields");
    return;
  }
  Json list = Json::array();
  for (const Entry* e : entries) list.push_back(EncodeEntry(*e));
  obj["metadata"]["managedFields"] = std::move(list);
}

void StripManagedFields(Json& obj) {
  if (obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object()) {
    obj["metadata"].erase("managedFields");
  }
}

std::string PrintManager(const Entry& e) {
  std::string s = kube::GoQuote(e.manager);
  if (!e.subresource.empty()) s += " with subresource " + kube::GoQuote(e.subresource);
  if (e.operation == "Update") s += " using " + e.api_version;
  return s;
}

std::string Str(const Json& o, const char* k) {
  if (!o.is_object()) return "";
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Gvk(const Json& obj) {
  std::string av = Str(obj, "apiVersion");
  if (av.find('/') == std::string::npos) av = "/" + av;
  return av + ", Kind=" + Str(obj, "kind");
}

TypeHolder ResolveType(std::string_view kind, const Json& schema) {
  TypeHolder h;
  if (schema.is_object() && !schema.empty()) {
    h.schema_types = std::make_unique<types::SchemaTypes>(schema);
    h.root = h.schema_types->root();
  }
  if (!h.root) h.root = types::ForKind(kind);
  if (!h.root) h.root = types::Unknown();
  return h;
}

// Removes `changed` from every manager but `self`, and `removed` from all of them.
void TakeFromOthers(std::map<std::string, Entry>& managers, const std::string& self,
                    const PathSet& changed, const PathSet& removed) {
  for (auto& [id, e] : managers) {
    if (e.set.empty()) continue;
    if (id != self) {
      for (const auto& p : changed) e.set.erase(p);
    }
    for (const auto& p : removed) e.set.erase(p);
  }
  for (auto it = managers.begin(); it != managers.end();) {
    it = it->second.set.empty() && it->first != self ? managers.erase(it) : std::next(it);
  }
}

}  // namespace kfaas::local::fieldsets
