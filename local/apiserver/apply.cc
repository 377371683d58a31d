// Server-side apply, after structured-merge-diff (merge.Updater.Apply) and the API server's
// field manager (stripmeta, managedfields updater, last-applied updater).
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "common/base/time_format.h"
#include "common/kube/errors.h"
#include "local/apiserver/field_sets.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {
namespace {

using namespace fieldsets;  // NOLINT(build/namespaces): the file is its implementation

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

}  // namespace kfaas::local
