// managedFields for non-apply writes (merge.Updater.Update and the managedfields updater).
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "common/base/time_format.h"
#include "local/apiserver/field_sets.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {

using fieldsets::Compare;
using fieldsets::Comparison;
using fieldsets::DecodeFields;
using fieldsets::DecodeManagedFields;
using fieldsets::EncodeEntry;
using fieldsets::EncodeManagedFields;
using fieldsets::Entry;
using fieldsets::Identity;
using fieldsets::kMaxDepth;
using fieldsets::ManagerOrderLess;
using fieldsets::Path;
using fieldsets::PathSet;
using fieldsets::ResolveType;
using fieldsets::Str;
using fieldsets::TakeFromOthers;
using fieldsets::Type;
using fieldsets::TypeHolder;
using fieldsets::Union;

namespace {

const Json* ManagedFieldsOf(const Json& obj) {
  if (!obj.is_object()) return nullptr;
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return nullptr;
  auto mf = md->find("managedFields");
  return mf == md->end() ? nullptr : &*mf;
}

// Whether `node` is a fieldsV1 trie exactly as EncodeFields writes it: objects only, a member
// leaf is {}, "." ({}) only beside children, and not at the root.
bool CanonicalFields(const Json& node, int depth) {
  if (!node.is_object() || depth > kMaxDepth) return false;
  if (depth == 0 && node.empty()) return false;  // an empty set is never written
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key() == ".") {
      if (depth == 0 || node.size() < 2 || !it->is_object() || !it->empty()) return false;
      continue;
    }
    if (!it->is_object()) return false;
    if (!it->empty() && !CanonicalFields(*it, depth + 1)) return false;
  }
  return true;
}

// Whether the set encoded in a canonical fieldsV1 trie has `p`.
bool EncodedHas(const Json& fields, const Path& p) {
  const Json* n = &fields;
  for (const auto& e : p) {
    auto it = n->find(e);
    if (it == n->end()) return false;
    n = &*it;
  }
  return !p.empty() && (n->empty() || n->contains("."));
}

// One managedFields entry kept as stored, decoded only when it has to change.
struct RawEntry {
  const Json* raw = nullptr;  // as stored; null once decoded into `entry`
  Entry entry;                // manager, operation, ... always; `set` only once decoded
};

std::optional<Entry> Header(const Json& e) {
  static const std::set<std::string> kKeys = {"manager",  "operation", "apiVersion", "fieldsType",
                                              "fieldsV1", "time",      "subresource"};
  if (!e.is_object()) return std::nullopt;
  for (auto it = e.begin(); it != e.end(); ++it) {
    if (!kKeys.count(it.key())) return std::nullopt;
    if (it.key() != "fieldsV1" && (!it->is_string() || it->get_ref<const std::string&>().empty())) {
      return std::nullopt;
    }
  }
  Entry h;
  h.manager = Str(e, "manager");
  h.operation = Str(e, "operation");
  h.api_version = Str(e, "apiVersion");
  h.time = Str(e, "time");
  h.subresource = Str(e, "subresource");
  if (h.operation != "Apply" && h.operation != "Update") return std::nullopt;
  if (Str(e, "fieldsType") != "FieldsV1" || !e.contains("manager") || !e.contains("apiVersion")) {
    return std::nullopt;
  }
  auto f = e.find("fieldsV1");
  if (f == e.end() || !CanonicalFields(*f, 0)) return std::nullopt;
  return h;
}

// RecordUpdateManager without decoding and re-encoding the entries the write does not touch: a
// status write leaves the spec's owners as they are. Applies when the managers come from
// `stored` (the entries of `before`, the stored object) and each is in the canonical form
// EncodeManagedFields writes, so that an untouched entry re-encodes to itself; returns false
// (nothing done) otherwise, and the caller takes the general path.
bool RecordUpdateFast(const Json& stored, const Comparison& cmp, Json& after,
                      const Entry& self_header, WallTime now) {
  if (!stored.is_array()) return false;
  std::vector<RawEntry> entries;
  std::set<std::string> ids;
  for (const auto& e : stored) {
    auto h = Header(e);
    if (!h || !ids.insert(Identity(*h)).second) return false;
    entries.push_back({&e, std::move(*h)});
  }
  PathSet changed = Union(cmp.modified, cmp.added);
  auto decode = [](RawEntry& r) {
    if (!r.raw) return;
    Path p;
    DecodeFields((*r.raw)["fieldsV1"], p, r.entry.set, 0);
    r.raw = nullptr;
  };
  std::string self_id = Identity(self_header);
  RawEntry* self = nullptr;
  for (auto& r : entries) {
    if (Identity(r.entry) == self_id) {
      self = &r;
      continue;
    }
    const Json& fields = (*r.raw)["fieldsV1"];
    auto has = [&fields](const Path& p) { return EncodedHas(fields, p); };
    if (std::none_of(changed.begin(), changed.end(), has) &&
        std::none_of(cmp.removed.begin(), cmp.removed.end(), has)) {
      continue;
    }
    decode(r);
    for (const auto& p : changed) r.entry.set.erase(p);
    for (const auto& p : cmp.removed) r.entry.set.erase(p);
  }
  if (!self) {
    entries.push_back({nullptr, self_header});
    self = &entries.back();
  } else if (!changed.empty() || !cmp.removed.empty()) {
    decode(*self);
  }
  if (!self->raw) {
    for (const auto& p : cmp.removed) self->entry.set.erase(p);
    self->entry.set.insert(changed.begin(), changed.end());
  }
  if (!changed.empty() || self->entry.time.empty()) {
    decode(*self);
    self->entry.time = FormatRfc3339(now);
  }

  std::vector<const RawEntry*> order;
  for (const auto& r : entries) {
    if (r.raw || !r.entry.set.empty()) order.push_back(&r);
  }
  std::sort(order.begin(), order.end(), [](const RawEntry* a, const RawEntry* b) {
    return ManagerOrderLess(a->entry, b->entry);
  });
  if (!after["metadata"].is_object()) after["metadata"] = Json::object();
  if (order.empty()) {
    after["metadata"].erase("managedFields");
    return true;
  }
  Json list = Json::array();
  for (const RawEntry* r : order) list.push_back(r->raw ? *r->raw : EncodeEntry(r->entry));
  after["metadata"]["managedFields"] = std::move(list);
  return true;
}

void RecordUpdateManagerSlow(const Json& before, Json& after, Comparison cmp,
                             const Entry& self_header, WallTime now, std::string_view subresource) {
  bool after_ok = false, before_ok = false;
  auto managers = DecodeManagedFields(after, &after_ok);
  if (!after_ok || managers.empty() || !subresource.empty()) {
    managers = DecodeManagedFields(before, &before_ok);
  }
  PathSet changed = std::move(cmp.added);
  changed.insert(cmp.modified.begin(), cmp.modified.end());
  const bool any_changed = !changed.empty();
  Entry self = self_header;
  std::string self_id = Identity(self);
  if (auto it = managers.find(self_id); it != managers.end()) self = it->second;
  managers[self_id] = self;
  TakeFromOthers(managers, self_id, changed, cmp.removed);
  Entry& me = managers[self_id];
  if (me.set.empty()) {
    me.set = std::move(changed);  // (the removed are gone from it already)
  } else {
    me.set.insert(changed.begin(), changed.end());
  }
  if (any_changed || me.time.empty()) me.time = FormatRfc3339(now);
  if (me.set.empty()) managers.erase(self_id);
  EncodeManagedFields(after, managers);
}

}  // namespace

namespace {

// RecordUpdateManager's steps, `allow_fast` choosing whether untouched entries may stay as
// stored (RecordUpdateFast) or every entry is decoded and re-encoded (the reference).
void Record(const Json& before, Json& after, std::string_view manager, std::string_view api_version,
            WallTime now, std::string_view subresource, const Json& schema, bool allow_fast) {
  try {
    if (!after.is_object()) return;
    TypeHolder th = ResolveType(Str(after, "kind"), schema);
    static const Json kEmpty = Json::object();
    Comparison cmp = Compare(before.is_object() ? before : kEmpty, after, th.root,
                             /*ignore_managed_fields=*/true);
    Entry self;
    self.manager = std::string(manager);
    self.operation = "Update";
    self.api_version = std::string(api_version);
    self.subresource = std::string(subresource);

    // The managers come from `before` for a subresource write, or when `after` has none or the
    // very same (the usual update, which carries the stored entries through).
    const Json* stored = ManagedFieldsOf(before);
    const Json* sent = ManagedFieldsOf(after);
    if (allow_fast && stored && (!subresource.empty() || !sent || *sent == *stored) &&
        RecordUpdateFast(*stored, cmp, after, self, now)) {
      return;
    }
    RecordUpdateManagerSlow(before, after, std::move(cmp), self, now, subresource);
  } catch (...) {
    // Bookkeeping only: a value we cannot walk leaves managedFields as they were.
  }
}

}  // namespace

void RecordUpdateManager(const Json& before, Json& after, std::string_view manager,
                         std::string_view api_version, WallTime now, std::string_view subresource,
                         const Json& schema) {
  Record(before, after, manager, api_version, now, subresource, schema, /*allow_fast=*/true);
}

void RecordUpdateManagerReference(const Json& before, Json& after, std::string_view manager,
                                  std::string_view api_version, WallTime now,
                                  std::string_view subresource, const Json& schema) {
  Record(before, after, manager, api_version, now, subresource, schema, /*allow_fast=*/false);
}

}  // namespace kfaas::local
