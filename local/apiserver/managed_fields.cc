// managedFields for non-apply writes (merge.Updater.Update and the managedfields updater).
#include "common/base/time_format.h"
#include "local/apiserver/field_sets.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {

using fieldsets::Compare;
using fieldsets::Comparison;
using fieldsets::DecodeManagedFields;
using fieldsets::Difference;
using fieldsets::EncodeManagedFields;
using fieldsets::Entry;
using fieldsets::Identity;
using fieldsets::PathSet;
using fieldsets::ResolveType;
using fieldsets::Str;
using fieldsets::TakeFromOthers;
using fieldsets::Type;
using fieldsets::TypeHolder;
using fieldsets::Union;

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
    static const Json kEmpty = Json::object();
    Comparison cmp = Compare(before.is_object() ? before : kEmpty, after, t,
                             /*ignore_managed_fields=*/true);
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
