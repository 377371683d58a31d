// Field metadata the patch algorithms need (internal to apiserver_logic): the strategic merge
// patch tags (patchStrategy/patchMergeKey) and the server-side apply list semantics
// (x-kubernetes-list-type/-list-map-keys) of the built-in kinds the local server serves, and
// the same derived from a CRD's structural schema.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kfaas::local::types {

using Json = nlohmann::json;

enum class ListKind { kAtomic, kMap, kSet };

struct Type;

struct Field {
  // Strategic merge patch.
  bool smp_merge = false;        // patchStrategy "merge" (lists: merge by key / as a set)
  bool smp_retain_keys = false;  // patchStrategy "retainKeys"
  std::string merge_key;         // patchMergeKey
  // Server-side apply.
  ListKind list = ListKind::kAtomic;
  std::vector<std::string> keys;             // list-map keys
  std::map<std::string, Json> key_defaults;  // e.g. protocol: "TCP"
  const Type* type = nullptr;  // the value's type (for lists: the element's); null = unknown
};

struct Type {
  std::map<std::string, Field> fields;  // declared fields (a struct)
  // A map (labels, data, additionalProperties): entries are not declared fields.
  bool is_map = false;
  const Type* elem = nullptr;  // type of the map's entries
  bool atomic = false;         // x-kubernetes-map-type: atomic
};

// A granular map of unknown content with atomic lists (structured-merge-diff's deduced type):
// its entries are set members themselves (x-kubernetes-preserve-unknown-fields).
const Type* Deduced();
// A struct whose fields are not in the tables: every key is a declared field of unknown type,
// lists atomic. Used below built-in kinds and for kinds without a schema.
const Type* Unknown();

// The type of a built-in kind ("Deployment", "Pod", "Service", ...), or nullptr.
const Type* ForKind(std::string_view kind);

// Metadata of `name` within `t` (declared field or map entry), or nullptr.
const Field* FindField(const Type* t, const std::string& name);
// The type of the value at `name` within `t`: the declared field's type, a map's element
// type, or Unknown() for anything else (never null).
const Type* ChildType(const Type* t, const std::string& name);

// Types derived from a CRD openAPIV3Schema; owns them.
class SchemaTypes {
 public:
  explicit SchemaTypes(const Json& schema);
  const Type* root() const { return root_; }

 private:
  const Type* Build(const Json& s, int depth);
  std::deque<Type> types_;
  const Type* root_ = nullptr;
};

}  // namespace kfaas::local::types
