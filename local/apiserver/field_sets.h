// Field sets and managedFields (internal to apiserver_logic): structured-merge-diff's
// fieldpath.Set over JSON values, used by ServerSideApply (apply.cc) and RecordUpdateManager
// (managed_fields.cc).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/kube/selector.h"
#include "local/apiserver/merge_types.h"

namespace kfaas::local::fieldsets {

using Json = nlohmann::json;
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

[[noreturn]] void BadRequest(const std::string& msg);

// JSON text of a value with numbers as Go writes them (80, not 80.0).
std::string Canonical(const Json& v);
bool Declared(const Type* t, const std::string& name);
// fieldpath.Path.String(): ".spec.containers[name=\"web\"].image".
std::string PathString(const Path& p);

struct WalkResult {
  PathSet members;
  std::map<Path, const Json*> leaves;  // members whose value is compared as a whole
  PathSet all;                         // every value's path
  PathSet maps;                        // paths of map-typed values (labels, data, ...)
  // false: only members and maps are recorded (what a comparison with an empty document uses).
  bool leaves_and_all = true;
};

class FieldSetWalker {
 public:
  // `strict`: the applied config (missing or duplicate list keys are errors).
  FieldSetWalker(bool strict, std::string gvk) : strict_(strict), gvk_(std::move(gvk)) {}

  void Run(const Json& root, const Type* t, WalkResult& out) {
    Path p;
    Value(root, t, nullptr, nullptr, p, out, 0);
  }

  // Walks `root` skipping every object member whose value equals the same member of `other`
  // (the same path in the other document of a comparison). Walking both documents this way
  // leaves out exactly the members, leaves and maps the two walks would share, so a comparison
  // of the results is the same as of full walks, without the cost of the unchanged parts (a
  // status write leaves the whole spec unchanged). `skip_managed_fields` also skips
  // metadata.managedFields, which comparisons strip.
  void RunAgainst(const Json& root, const Json& other, const Type* t, bool skip_managed_fields,
                  WalkResult& out) {
    Path p;
    skip_managed_fields_ = skip_managed_fields;
    Value(root, t, nullptr, &other, p, out, 0);
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
    if (leaf && out.leaves_and_all) out.leaves[p] = v;
  }

  // `other`: the value at the same path in the other document (RunAgainst), or null.
  void Value(const Json& v, const Type* t, const Field* f, const Json* other, Path& path,
             WalkResult& out, int depth) {
    if (depth > kMaxDepth) BadRequest("object nested too deeply");
    if (!path.empty()) {
      if (out.leaves_and_all) out.all.insert(path);
      if (v.is_object() && t && t->is_map && !t->atomic) out.maps.insert(path);
    }
    if (v.is_object()) {
      if (t && t->atomic) {
        Insert(path, &v, true, out);
        return;
      }
      const bool other_is_object = other && other->is_object();
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& k = it.key();
        const Json& val = it.value();
        const Json* other_val = nullptr;
        if (other_is_object) {
          if (auto o = other->find(k); o != other->end()) {
            if (*o == val) continue;  // the same in both documents: nothing to compare
            other_val = &*o;
          }
        }
        if (skip_managed_fields_ && depth == 1 && k == "managedFields" && path.size() == 1 &&
            path[0] == "f:metadata") {
          continue;
        }
        path.push_back("f:" + k);
        Value(val, types::ChildType(t, k), types::FindField(t, k), other_val, path, out, depth + 1);
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
          Value(v[i], f->type ? f->type : types::Unknown(), nullptr, nullptr, path, out, depth + 1);
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
  bool skip_managed_fields_ = false;
};

// The fields the field manager never tracks (apiserver stripmeta).
PathSet StripSet();
PathSet Difference(const PathSet& a, const PathSet& b);
PathSet Intersection(const PathSet& a, const PathSet& b);
PathSet Union(const PathSet& a, const PathSet& b);
PathSet FieldSetOf(const Json& obj, const Type* t, bool strict, const std::string& gvk);

struct Comparison {
  PathSet added, removed, modified;
};

// The fields added, removed and modified from `before` to `after`. Unchanged members are skipped
// (FieldSetWalker::RunAgainst); `ignore_managed_fields` leaves metadata.managedFields out, as
// if both documents had it stripped.
Comparison Compare(const Json& before, const Json& after, const Type* t,
                   bool ignore_managed_fields = false);
// The same from full walks of both documents: the reference Compare must agree with (tests).
Comparison CompareFullWalk(const Json& before, const Json& after, const Type* t);
// Adds every proper prefix ending in a declared (struct) field.
PathSet EnsureNamedFieldsAreMembers(const PathSet& s, const Type* root);
void RemovePath(Json& obj, const Path& p, const Type* root);

struct Entry {
  std::string manager, operation, api_version, subresource, time;
  PathSet set;
};

std::string Identity(const Entry& e);
// The set of a fieldsV1 trie (below `path`, at `depth`), added to `out`.
void DecodeFields(const Json& node, Path& path, PathSet& out, int depth);
// The fieldsV1 trie of a set: a member with children gets ".": {}.
Json EncodeFields(const PathSet& set);
// Decodes metadata.managedFields; malformed entries are dropped (*ok = false then).
std::map<std::string, Entry> DecodeManagedFields(const Json& obj, bool* ok);
void EncodeManagedFields(Json& obj, const std::map<std::string, Entry>& managers);
// The order of metadata.managedFields: operation, time (seconds), manager, apiVersion,
// subresource.
bool ManagerOrderLess(const Entry& p, const Entry& q);
// One metadata.managedFields entry.
Json EncodeEntry(const Entry& e);
void StripManagedFields(Json& obj);
std::string PrintManager(const Entry& e);
std::string Str(const Json& o, const char* k);
std::string Gvk(const Json& obj);

struct TypeHolder {
  std::unique_ptr<types::SchemaTypes> schema_types;
  const Type* root = nullptr;
};

TypeHolder ResolveType(std::string_view kind, const Json& schema);
// Removes `changed` from every manager but `self`, and `removed` from all of them.
void TakeFromOthers(std::map<std::string, Entry>& managers, const std::string& self,
                    const PathSet& changed, const PathSet& removed);

}  // namespace kfaas::local::fieldsets
