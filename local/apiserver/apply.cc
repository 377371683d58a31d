// Server-side apply and managedFields bookkeeping, after structured-merge-diff (merge.Updater)
// and the API server's field manager (stripmeta, managedfields updater, last-applied updater).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/base/time_format.h"
#include "common/kube/errors.h"
#include "common/kube/selector.h"
#include "local/apiserver/go_format.h"
#include "local/apiserver/merge_types.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {
namespace {

using types::Field;
using types::ListKind;
using types::Type;

constexpr int kMaxDepth = 1000;
constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";

// A path is a sequence of fieldsV1 elements: "f:name", "k:{\"name\":\"web\"}", "v:\"x\"",
// "i:0".
using Path = std::vector<std::string>;
using PathSet = std::set<Path>;

struct ApplyError {
  absl::Status status;
};

[[noreturn]] void BadRequest(const std::string& msg) {
  throw ApplyError{kube::BadRequestError(msg)};
}

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

struct WalkResult {
  PathSet members;
  std::map<Path, const Json*> leaves;  // members whose value is compared as a whole
  PathSet all;                         // every value's path
  PathSet maps;                        // paths of map-typed values (labels, data, ...)
};

class FieldSetWalker {
 public:
  // `strict`: the applied config (missing or duplicate list keys are errors).
  FieldSetWalker(bool strict, std::string gvk) : strict_(strict), gvk_(std::move(gvk)) {}

  void Run(const Json& root, const Type* t, WalkResult& out) {
    Path p;
    Value(root, t, nullptr, p, out, 0);
  }

  // The path element of a list item; nullopt when it has no usable key (live objects only).
  std::optional<std::string> ItemElement(const Json& item, const Field& f, const Path& list_path,
                                         size_t index) const {
    if (f.list == ListKind::kSet) return "v:" + Canonical(item);
    if (!item.is_object()) {
      if (strict_) {
        BadRequest(Prefix() + PathString(list_path) + ": element " + std::to_string(index) +
                   ": associative list with keys has an element that is not a map");
      }
      return std::nullopt;
    }
    Json key = Json::object();
    for (const auto& k : f.keys) {
      auto it = item.find(k);
      if (it != item.end() && !it->is_null()) {
        key[k] = *it;
      } else if (auto d = f.key_defaults.find(k); d != f.key_defaults.end()) {
        key[k] = d->second;
      } else {
        if (strict_) {
          BadRequest(Prefix() + PathString(list_path) + ": element " + std::to_string(index) +
                     ": associative list with keys has an element that omits key field " +
                     kube::GoQuote(k) + " (and doesn't have default value)");
        }
        return std::nullopt;
      }
    }
    return "k:" + Canonical(key);
  }

 private:
  std::string Prefix() const { return "failed to create typed patch object (" + gvk_ + "): "; }

  void Insert(const Path& p, const Json* v, bool leaf, WalkResult& out) {
    if (p.empty()) return;
    out.members.insert(p);
    if (leaf) out.leaves[p] = v;
  }

  void Value(const Json& v, const Type* t, const Field* f, Path& path, WalkResult& out, int depth) {
    if (depth > kMaxDepth) BadRequest("object nested too deeply");
    if (!path.empty()) {
      out.all.insert(path);
      if (v.is_object() && t && t->is_map && !t->atomic) out.maps.insert(path);
    }
    if (v.is_object()) {
      if (t && t->atomic) {
        Insert(path, &v, true, out);
        return;
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& k = it.key();
        const Json& val = it.value();
        path.push_back("f:" + k);
        Value(val, types::ChildType(t, k), types::FindField(t, k), path, out, depth + 1);
        if (val.is_null() || (val.is_object() && val.empty())) {
          Insert(path, &val, true, out);
        } else if (!Declared(t, k)) {
          Insert(path, &val, !val.is_object() && !val.is_array(), out);
        }
        path.pop_back();
      }
      return;
    }
    if (v.is_array()) {
      if (!f || f->list == ListKind::kAtomic) {
        Insert(path, &v, true, out);
        return;
      }
      std::set<std::string> seen;
      for (size_t i = 0; i < v.size(); ++i) {
        auto pe = ItemElement(v[i], *f, path, i);
        if (!pe) continue;
        if (!seen.insert(*pe).second) {
          if (strict_) {
            std::string key = PathString({*pe});
            BadRequest(Prefix() + PathString(path) + ": duplicate entries for key " + key);
          }
          continue;
        }
        path.push_back(*pe);
        if (f->list == ListKind::kMap) {
          Value(v[i], f->type ? f->type : types::Unknown(), nullptr, path, out, depth + 1);
        }
        Insert(path, &v[i], f->list == ListKind::kSet, out);
        path.pop_back();
      }
      return;
    }
    Insert(path, &v, true, out);
  }

  bool strict_;
  std::string gvk_;
};

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

struct Comparison {
  PathSet added, removed, modified;
};

bool SameValue(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return gofmt::AsDouble(a) == gofmt::AsDouble(b);
  return a == b;
}

Comparison Compare(const Json& before, const Json& after, const Type* t) {
  WalkResult wb, wa;
  FieldSetWalker(false, "").Run(before, t, wb);
  FieldSetWalker(false, "").Run(after, t, wa);
  Comparison c;
  c.added = Difference(wa.members, wb.members);
  c.removed = Difference(wb.members, wa.members);
  for (const auto& p : Intersection(wb.members, wa.members)) {
    auto lb = wb.leaves.find(p);
    auto la = wa.leaves.find(p);
    bool leaf_b = lb != wb.leaves.end(), leaf_a = la != wa.leaves.end();
    if (leaf_b != leaf_a || (leaf_b && !SameValue(*lb->second, *la->second))) {
      c.modified.insert(p);
    }
  }
  // structured-merge-diff also records a map that appears or disappears as a whole (this is
  // where the ".": {} of labels/annotations/data in Update entries comes from). Structs are
  // not recorded: in Go the "empty" object already has them.
  for (const auto& p : Difference(wa.maps, wb.all)) c.added.insert(p);
  for (const auto& p : Difference(wb.maps, wa.all)) c.removed.insert(p);
  PathSet strip = StripSet();
  c.added = Difference(c.added, strip);
  c.removed = Difference(c.removed, strip);
  c.modified = Difference(c.modified, strip);
  return c;
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

// ---- merging values (typed.TypedValue.Merge) ----

class Merger {
 public:
  Json Merge(const Json& l, const Json& r, const Type* t, const Field* f, int depth) {
    if (depth > kMaxDepth) BadRequest("object nested too deeply");
    if (r.is_object()) {
      if (!l.is_object() || (t && t->atomic)) return r;
      Json out = l;
      for (auto it = r.begin(); it != r.end(); ++it) {
        const std::string& k = it.key();
        if (it->is_null()) {
          out.erase(k);
          continue;
        }
        auto cur = l.find(k);
        static const Json kNull;
        out[k] = Merge(cur == l.end() ? kNull : *cur, *it, types::ChildType(t, k),
                       types::FindField(t, k), depth + 1);
      }
      return out;
    }
    if (r.is_array() && l.is_array() && f && f->list != ListKind::kAtomic) {
      return MergeList(l, r, *f, depth);
    }
    return r;
  }

 private:
  // structured-merge-diff's mergingWalker.visitListItems: live-only items keep their place,
  // shared and new items follow the applied order.
  Json MergeList(const Json& lhs, const Json& rhs, const Field& f, int depth) {
    FieldSetWalker keys(false, "");
    const Type* elem = f.type ? f.type : types::Unknown();
    std::vector<std::string> lpe, rpe;
    std::map<std::string, const Json*> observed_l, observed_r;
    for (size_t i = 0; i < lhs.size(); ++i) {
      auto pe = keys.ItemElement(lhs[i], f, {}, i);
      // Items without a key can't be matched: keep them as live-only items.
      std::string s = pe ? *pe : "i:" + std::to_string(i) + ":unkeyed";
      lpe.push_back(s);
      if (observed_l.count(s)) {
        observed_l[s] = nullptr;  // duplicates are not merged
      } else {
        observed_l[s] = &lhs[i];
      }
    }
    for (size_t i = 0; i < rhs.size(); ++i) {
      auto pe = keys.ItemElement(rhs[i], f, {}, i);
      std::string s = pe ? *pe : "i:" + std::to_string(i) + ":unkeyed-applied";
      rpe.push_back(s);
      if (!observed_r.count(s)) observed_r[s] = &rhs[i];
    }
    std::vector<std::string> shared;
    for (const auto& pe : rpe) {
      if (observed_l.count(pe)) shared.push_back(pe);
    }
    size_t shared_i = 0;
    std::optional<std::string> next_shared;
    auto advance = [&]() {
      next_shared.reset();
      if (shared_i < shared.size()) next_shared = shared[shared_i++];
    };
    advance();
    std::set<std::string> merged_r;
    Json out = Json::array();
    auto item = [&](const Json* l, const Json* r) {
      if (l && r) return Merge(*l, *r, elem, nullptr, depth + 1);
      return r ? *r : *l;
    };
    size_t li = 0, ri = 0;
    size_t guard = 0;
    while (li < lpe.size() || ri < rpe.size()) {
      if (++guard > 4 * (lpe.size() + rpe.size()) + 4) break;  // cannot happen; stay total
      if (li < lpe.size() && ri < rpe.size()) {
        const std::string& pe = lpe[li];
        if (pe == rpe[ri]) {
          merged_r.insert(pe);
          const Json* l = observed_l[pe];
          out.push_back(l ? item(l, observed_r[pe]) : *observed_r[pe]);
          ++li;
          ++ri;
          advance();
          continue;
        }
        if (observed_r.count(pe) && next_shared && *next_shared != pe) {
          ++li;
          continue;
        }
      }
      if (li < lpe.size()) {
        const std::string& pe = lpe[li];
        if (!observed_r.count(pe)) {
          out.push_back(lhs[li]);
          ++li;
          continue;
        }
        if (merged_r.count(pe)) {
          ++li;
          continue;
        }
      }
      if (ri < rpe.size()) {
        const std::string& pe = rpe[ri];
        merged_r.insert(pe);
        auto l = observed_l.find(pe);
        out.push_back(item(l == observed_l.end() ? nullptr : l->second, observed_r[pe]));
        ++ri;
        if (next_shared && *next_shared == pe) advance();
      } else if (li < lpe.size()) {
        ++li;
      }
    }
    return out;
  }
};

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

struct Entry {
  std::string manager, operation, api_version, subresource, time;
  PathSet set;
};

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
  // A trie of the members; a member with children gets ".": {}.
  struct Node {
    bool member = false;
    std::map<std::string, Node> children;
  };
  Node root;
  for (const auto& p : set) {
    Node* n = &root;
    for (const auto& e : p) n = &n->children[e];
    n->member = true;
  }
  // Iterative post-order would be overkill: paths are bounded by kMaxDepth.
  std::function<Json(const Node&)> emit = [&](const Node& n) {
    Json j = Json::object();
    if (n.member && !n.children.empty()) j["."] = Json::object();
    for (const auto& [k, c] : n.children) j[k] = emit(c);
    return j;
  };
  return emit(root);
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

void EncodeManagedFields(Json& obj, const std::map<std::string, Entry>& managers) {
  std::vector<const Entry*> entries;
  for (const auto& [id, e] : managers) {
    if (!e.set.empty()) entries.push_back(&e);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry* p, const Entry* q) {
    if (p->operation != q->operation) return p->operation < q->operation;
    long long ps = TimeSeconds(p->time), qs = TimeSeconds(q->time);
    if (ps != qs) return ps < qs;
    if (p->manager != q->manager) return p->manager < q->manager;
    if (p->api_version != q->api_version) return p->api_version < q->api_version;
    return p->subresource < q->subresource;
  });
  if (!obj["metadata"].is_object()) obj["metadata"] = Json::object();
  if (entries.empty()) {
    obj["metadata"].erase("managedFields");
    return;
  }
  Json list = Json::array();
  for (const Entry* e : entries) {
    Json j = {{"manager", e->manager},
              {"operation", e->operation},
              {"apiVersion", e->api_version},
              {"fieldsType", "FieldsV1"},
              {"fieldsV1", EncodeFields(e->set)}};
    if (!e->time.empty()) j["time"] = e->time;
    if (!e->subresource.empty()) j["subresource"] = e->subresource;
    list.push_back(std::move(j));
  }
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

struct TypeHolder {
  std::unique_ptr<types::SchemaTypes> schema_types;
  const Type* root = nullptr;
};

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
    if (id != self) e.set = Difference(e.set, changed);
    e.set = Difference(e.set, removed);
  }
  for (auto it = managers.begin(); it != managers.end();) {
    it = it->second.set.empty() && it->first != self ? managers.erase(it) : std::next(it);
  }
}

}  // namespace

absl::StatusOr<Json> ServerSideApply(const Json& live, const Json& applied,
                                     std::string_view manager, bool force, std::string_view kind,
                                     WallTime now, const Json& schema) {
  try {
    if (!applied.is_object()) return kube::BadRequestError("the applied object must be a map");
    if (applied.contains("metadata") && applied["metadata"].is_object()) {
      auto mf = applied["metadata"].find("managedFields");
      if (mf != applied["metadata"].end() && !mf->is_null() && !(mf->is_array() && mf->empty())) {
        return kube::BadRequestError("metadata.managedFields must be nil");
      }
    }
    TypeHolder th = ResolveType(kind, schema);
    const Type* t = th.root;
    Json live_obj = live.is_object() ? live : Json::object();
    bool decoded = false;
    auto managers = DecodeManagedFields(live_obj, &decoded);
    StripManagedFields(live_obj);
    Json config = applied;
    StripManagedFields(config);

    PathSet applied_set = FieldSetOf(config, t, /*strict=*/true, Gvk(config));
    Json merged = Merger().Merge(live_obj, config, t, nullptr, 0);

    Entry self;
    self.manager = std::string(manager);
    self.operation = "Apply";
    self.api_version = Str(config, "apiVersion");
    std::string self_id = Identity(self);
    PathSet last_set;
    if (auto it = managers.find(self_id); it != managers.end()) {
      last_set = it->second.set;
      self.time = it->second.time;
    }
    self.set = applied_set;
    managers[self_id] = self;

    // Prune what this manager applied last time and nobody manages any more.
    if (!last_set.empty()) {
      PathSet managed;
      for (const auto& [id, e] : managers) managed.insert(e.set.begin(), e.set.end());
      // Never metadata itself, apiVersion or kind: the server owns them.
      PathSet to_remove = Difference(Difference(EnsureNamedFieldsAreMembers(last_set, t),
                                                EnsureNamedFieldsAreMembers(managed, t)),
                                     StripSet());
      // Parents first (a removed item's key fields must still be there to find it); the
      // removal of a child of a removed parent is then a no-op.
      for (const auto& p : to_remove) RemovePath(merged, p, t);
    }

    Comparison cmp = Compare(live_obj, merged, t);
    PathSet changed = Union(cmp.modified, cmp.added);
    struct Conflict {
      const Entry* entry;
      Path path;
    };
    std::vector<Conflict> conflicts;
    for (const auto& [id, e] : managers) {
      if (id == self_id) continue;
      for (const auto& p : Intersection(e.set, changed)) conflicts.push_back({&e, p});
    }
    if (!conflicts.empty() && !force) {
      std::sort(conflicts.begin(), conflicts.end(), [](const Conflict& a, const Conflict& b) {
        if (a.entry->manager != b.entry->manager) return a.entry->manager < b.entry->manager;
        return a.path < b.path;
      });
      Json causes = Json::array();
      for (const auto& c : conflicts) {
        causes.push_back({{"reason", "FieldManagerConflict"},
                          {"message", "conflict with " + PrintManager(*c.entry)},
                          {"field", PathString(c.path)}});
      }
      std::string msg;
      if (conflicts.size() == 1) {
        msg = "Apply failed with 1 conflict: conflict with " + PrintManager(*conflicts[0].entry) +
              ": " + PathString(conflicts[0].path);
      } else {
        std::map<std::string, std::vector<const Conflict*>> by_manager;
        for (const auto& c : conflicts) by_manager[PrintManager(*c.entry)].push_back(&c);
        std::vector<std::string> lines;
        for (const auto& [m, list] : by_manager) {
          lines.push_back("conflicts with " + m + ":");
          for (const Conflict* c : list) lines.push_back("- " + PathString(c->path));
        }
        msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
        for (size_t i = 0; i < lines.size(); ++i) msg += (i ? "\n" : "") + lines[i];
      }
      return kube::MakeApiError(409, "Conflict", msg, {{"causes", causes}});
    }
    TakeFromOthers(managers, self_id, changed, cmp.removed);
    Entry& me = managers[self_id];
    if (me.time.empty() || merged != live_obj) me.time = FormatRfc3339(now);

    // The last-applied annotation follows kubectl's server-side applies (lastappliedupdater).
    if (manager == "kubectl" && merged.contains("metadata") && merged["metadata"].is_object() &&
        merged["metadata"].contains("annotations") &&
        merged["metadata"]["annotations"].is_object() &&
        merged["metadata"]["annotations"].contains(kLastApplied)) {
      Json last = config;
      if (last.contains("metadata") && last["metadata"].is_object() &&
          last["metadata"].contains("annotations") && last["metadata"]["annotations"].is_object()) {
        last["metadata"]["annotations"].erase(kLastApplied);
      }
      merged["metadata"]["annotations"][kLastApplied] = Canonical(last) + "\n";
    }
    EncodeManagedFields(merged, managers);
    return merged;
  } catch (const ApplyError& e) {
    return e.status;
  } catch (const std::exception& e) {
    return kube::BadRequestError(std::string("failed to apply: ") + e.what());
  }
}

void RecordUpdateManager(const Json& before, Json& after, std::string_view manager,
                         std::string_view api_version, WallTime now, std::string_view subresource,
                         const Json& schema) {
  try {
    if (!after.is_object()) return;
    TypeHolder th = ResolveType(Str(after, "kind"), schema);
    const Type* t = th.root;
    bool after_ok = false, before_ok = false;
    auto managers = DecodeManagedFields(after, &after_ok);
    if (!after_ok || managers.empty() || !subresource.empty()) {
      managers = DecodeManagedFields(before, &before_ok);
    }
    Json b = before.is_object() ? before : Json::object();
    Json a = after;
    StripManagedFields(b);
    StripManagedFields(a);
    Comparison cmp = Compare(b, a, t);
    PathSet changed = Union(cmp.modified, cmp.added);

    Entry self;
    self.manager = std::string(manager);
    self.operation = "Update";
    self.api_version = std::string(api_version);
    self.subresource = std::string(subresource);
    std::string self_id = Identity(self);
    if (auto it = managers.find(self_id); it != managers.end()) self = it->second;
    managers[self_id] = self;
    TakeFromOthers(managers, self_id, changed, cmp.removed);
    Entry& me = managers[self_id];
    me.set = Union(Difference(me.set, cmp.removed), changed);
    if (!changed.empty() || me.time.empty()) me.time = FormatRfc3339(now);
    if (me.set.empty()) managers.erase(self_id);
    EncodeManagedFields(after, managers);
  } catch (...) {
    // Bookkeeping only: a value we cannot walk leaves managedFields as they were.
  }
}

}  // namespace kfaas::local
