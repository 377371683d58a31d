// Strategic merge patch (apimachinery pkg/util/strategicpatch, as the API server applies
// application/strategic-merge-patch+json: MergeParallelList and IgnoreUnmatchedNulls).
#include <algorithm>
#include <optional>

#include "common/kube/errors.h"
#include "local/apiserver/go_format.h"
#include "local/apiserver/merge_types.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {
namespace {

using types::Field;
using types::Type;

constexpr int kMaxDepth = 1000;
constexpr char kDirective[] = "$patch";
constexpr char kRetainKeys[] = "$retainKeys";
constexpr char kDeleteFromPrimitiveList[] = "$deleteFromPrimitiveList";
constexpr char kSetElementOrder[] = "$setElementOrder";

struct PatchError {
  std::string message;
};

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// Go's %v of a decoded JSON value ("map[a:1 b:x]", "[a b]").
std::string PlainV(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "<nil>";
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += " ";
        first = false;
        out += it.key() + ":" + PlainV(it.value());
      }
      return out + "]";
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += " ";
        out += PlainV(v[i]);
      }
      return out + "]";
    }
    case Json::value_t::number_float:
      return gofmt::FloatV(v.get<double>());
    default:
      return gofmt::SharpV(v);
  }
}

[[noreturn]] void Fail(const std::string& msg) { throw PatchError{msg}; }

void NoMergeKey(const Json& m, const std::string& key) {
  Fail("map: " + PlainV(m) + " does not contain declared merge key: " + key);
}

// Values newly taken from the patch must not carry nulls (IgnoreUnmatchedNulls) or
// directives (a typed decode would drop them).
void Clean(Json& v) {
  std::vector<Json*> stack{&v};
  while (!stack.empty()) {
    Json* j = stack.back();
    stack.pop_back();
    if (j->is_object()) {
      std::vector<std::string> drop;
      for (auto it = j->begin(); it != j->end(); ++it) {
        const std::string& k = it.key();
        if (it->is_null() || k == kDirective || k == kRetainKeys ||
            StartsWith(k, kDeleteFromPrimitiveList) || StartsWith(k, kSetElementOrder)) {
          drop.push_back(k);
        } else {
          stack.push_back(&it.value());
        }
      }
      for (const auto& k : drop) j->erase(k);
    } else if (j->is_array()) {
      for (auto& e : *j) stack.push_back(&e);
    }
  }
}

std::string ExtractKey(const std::string& s, const std::string& prefix) {
  size_t slash = s.find('/');
  if (slash == std::string::npos || s.substr(0, slash) != prefix) {
    if (prefix == kDeleteFromPrimitiveList) Fail("invalid patch format of primitive list");
    Fail("invalid patch format of setElementOrder list");
  }
  return s.substr(slash + 1);
}

// The kind of the elements of the lists (all must agree; no lists of lists).
enum class Elem { kNone, kMap, kScalar };

Elem ElementKind(const Json& a, const Json& b) {
  std::optional<Json::value_t> t;
  auto type_of = [](const Json& v) {
    // Go distinguishes float64 from string etc.; all JSON numbers decode as float64.
    if (v.is_number()) return Json::value_t::number_float;
    return v.type();
  };
  for (const Json* list : {&a, &b}) {
    for (const auto& v : *list) {
      if (!t) {
        t = type_of(v);
        if (*t == Json::value_t::array) Fail("lists of lists are not supported");
      } else if (*t != type_of(v)) {
        Fail("list element types are not identical: " + PlainV(a) + " " + PlainV(b));
      }
    }
  }
  if (!t) return Elem::kNone;
  return *t == Json::value_t::object ? Elem::kMap : Elem::kScalar;
}

bool KeyEquals(const Json& a, const Json& b) { return a == b; }

// Index of the map in `list` whose merge key equals `value`, or -1.
long FindByKey(const Json& list, const std::string& key, const Json& value) {
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& e = list[i];
    if (!e.is_object()) Fail("value for key " + std::to_string(i) + " is not a map.");
    auto it = e.find(key);
    if (it != e.end() && KeyEquals(*it, value)) return static_cast<long>(i);
  }
  return -1;
}

const Json& KeyOf(const Json& item, const std::string& merge_key, Elem kind) {
  static const Json* null = new Json();
  if (kind != Elem::kMap) return item;
  if (!item.is_object()) return *null;
  auto it = item.find(merge_key);
  return it == item.end() ? *null : *it;
}

long IndexIn(const Json& order, const Json& item, const std::string& merge_key, Elem kind) {
  const Json& v = KeyOf(item, merge_key, kind);
  for (size_t i = 0; i < order.size(); ++i) {
    if (KeyOf(order[i], merge_key, kind) == v) return static_cast<long>(i);
  }
  return -1;
}

void ValidateMergeKeys(const std::string& key, const Json& list) {
  for (const auto& item : list) {
    if (!item.is_object()) {
      Fail("expected a map[string]interface {}, but received a " + std::string(item.type_name()));
    }
    if (!item.contains(key)) NoMergeKey(item, key);
  }
}

bool IsDeleteDirective(const Json& v) {
  if (!v.is_object()) return false;
  auto it = v.find(kDirective);
  return it != v.end() && *it == "delete";
}

// normalizeSliceOrder: stable-sorts `items` by their position in `order` (items not in `order`
// keep their place relative to the sort's comparisons, as Go's SliceStable does).
Json NormalizeSliceOrder(Json items, const Json& order, const std::string& merge_key, Elem kind) {
  Json to_delete = Json::array();
  if (kind == Elem::kMap) {
    ValidateMergeKeys(merge_key, items);
    ValidateMergeKeys(merge_key, order);
    Json keep = Json::array();
    for (auto& v : items) {
      if (IsDeleteDirective(v)) {
        to_delete.push_back(std::move(v));
      } else {
        keep.push_back(std::move(v));
      }
    }
    items = std::move(keep);
  }
  std::vector<Json> v(items.begin(), items.end());
  std::stable_sort(v.begin(), v.end(), [&](const Json& a, const Json& b) {
    long ia = IndexIn(order, a, merge_key, kind);
    if (ia >= 0) {
      long ib = IndexIn(order, b, merge_key, kind);
      if (ib >= 0) return ia < ib;
    }
    // Go's comparator returns true here, which is not a strict weak order; treating the
    // pair as equivalent keeps std::stable_sort well-defined.
    return false;
  });
  Json out = Json::array();
  for (auto& e : v) out.push_back(std::move(e));
  for (auto& e : to_delete) out.push_back(std::move(e));
  return out;
}

Json MergeSortedSlice(const Json& left, const Json& right, const Json& server_order,
                      const std::string& merge_key, Elem kind) {
  Json out = Json::array();
  size_t i = 0, j = 0;
  while (i < left.size() || j < right.size()) {
    if (i >= left.size()) {
      out.push_back(right[j++]);
    } else if (j >= right.size()) {
      out.push_back(left[i++]);
    } else {
      long li = IndexIn(server_order, left[i], merge_key, kind);
      long ri = IndexIn(server_order, right[j], merge_key, kind);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push_back(left[i++]);
      } else {
        out.push_back(right[j++]);
      }
    }
  }
  return out;
}

Json NormalizeElementOrder(const Json& patch_items, const Json& server_only,
                           const Json& patch_order, const Json& server_order,
                           const std::string& merge_key, Elem kind) {
  Json p = NormalizeSliceOrder(patch_items, patch_order, merge_key, kind);
  Json s = NormalizeSliceOrder(server_only, server_order, merge_key, kind);
  return MergeSortedSlice(s, p, server_order, merge_key, kind);
}

// Splits `merged` into items present in `by` and the others.
void Partition(const Json& merged, const Json& by, const std::string& merge_key, Elem kind,
               Json* in, Json* out) {
  *in = Json::array();
  *out = Json::array();
  for (const auto& v : merged) {
    if (kind == Elem::kMap) {
      if (!v.is_object()) {
        Fail("expected a map[string]interface {}, but received a " + std::string(v.type_name()));
      }
      auto k = v.find(merge_key);
      if (k == v.end()) NoMergeKey(v, merge_key);
      (FindByKey(by, merge_key, *k) >= 0 ? in : out)->push_back(v);
    } else {
      bool found = std::find(by.begin(), by.end(), v) != by.end();
      (found ? in : out)->push_back(v);
    }
  }
}

Json DeduplicateScalars(Json s) {
  // Go's in-place algorithm (which moves the last element into each duplicate's slot).
  std::vector<Json> v(s.begin(), s.end());
  if (v.empty()) return Json::array();
  size_t length = v.size() - 1;
  for (size_t i = 0; i < length; ++i) {
    for (size_t j = i + 1; j <= length; ++j) {
      if (v[i] == v[j]) {
        v[j] = v[length];
        v.resize(length);
        --length;
        --j;
      }
    }
  }
  Json out = Json::array();
  for (auto& e : v) out.push_back(std::move(e));
  return out;
}

class Merger {
 public:
  Json MergeMap(Json original, Json patch, const Type* t, int depth) {
    if (depth > kMaxDepth) Fail("patch nested too deeply");
    if (auto d = patch.find(kDirective); d != patch.end()) {
      if (*d == "replace") {
        patch.erase(kDirective);
        Clean(patch);
        return patch;
      }
      if (*d == "delete") return Json::object();
      Fail("unknown patch type: " + PlainV(*d) + " in map: " + PlainV(patch));
    }
    if (!original.is_object()) original = Json::object();
    ApplyRetainKeys(original, patch);
    MergePatchIntoOriginal(original, patch, t, depth);
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      std::string k = it.key();
      Json& patch_v = it.value();
      bool is_delete_list = false;
      if (StartsWith(k, kDeleteFromPrimitiveList)) {
        k = ExtractKey(k, kDeleteFromPrimitiveList);
        is_delete_list = true;
      }
      if (patch_v.is_null()) {
        original.erase(k);
        continue;
      }
      auto orig = original.find(k);
      if (orig == original.end()) {
        if (!is_delete_list) {
          Clean(patch_v);
          original[k] = std::move(patch_v);
        }
        continue;
      }
      bool same_kind =
          (orig->is_object() && patch_v.is_object()) || (orig->is_array() && patch_v.is_array());
      if (!same_kind) {
        if (!is_delete_list) {
          Clean(patch_v);
          *orig = std::move(patch_v);
        }
        continue;
      }
      const Field* f = types::FindField(t, k);
      const Type* child = types::ChildType(t, k);
      if (orig->is_object()) {
        *orig = MergeMap(std::move(*orig), std::move(patch_v), child, depth + 1);
      } else {
        bool merge = f && f->smp_merge;
        *orig = MergeSliceHandler(std::move(*orig), std::move(patch_v), child, merge,
                                  f ? f->merge_key : "", is_delete_list, depth + 1);
      }
    }
    return original;
  }

 private:
  static void ApplyRetainKeys(Json& original, Json& patch) {
    auto rk = patch.find(kRetainKeys);
    if (rk == patch.end()) return;
    Json list = *rk;
    patch.erase(rk);
    if (!list.is_array()) Fail("invalid patch format of retainKeys");
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (it->is_null() || StartsWith(it.key(), kDeleteFromPrimitiveList) ||
          StartsWith(it.key(), kSetElementOrder)) {
        continue;
      }
      if (std::find(list.begin(), list.end(), Json(it.key())) == list.end()) {
        Fail("invalid patch format of retainKeys");
      }
    }
    std::vector<std::string> drop;
    for (auto it = original.begin(); it != original.end(); ++it) {
      if (std::find(list.begin(), list.end(), Json(it.key())) == list.end()) {
        drop.push_back(it.key());
      }
    }
    for (const auto& k : drop) original.erase(k);
  }

  void MergePatchIntoOriginal(Json& original, Json& patch, const Type* t, int depth) {
    std::vector<std::string> order_keys;
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (StartsWith(it.key(), kSetElementOrder)) order_keys.push_back(it.key());
    }
    for (const auto& key : order_keys) {
      Json order = patch[key];
      patch.erase(key);
      if (!order.is_array()) {
        Fail("expected a []interface {}, but received a " + std::string(order.type_name()));
      }
      std::string k = ExtractKey(key, kSetElementOrder);
      auto orig_it = original.find(k);
      auto patch_it = patch.find(k);
      bool found_orig = orig_it != original.end();
      bool found_patch = patch_it != patch.end();
      Json orig_list = found_orig ? *orig_it : Json::array();
      Json patch_list = found_patch ? *patch_it : Json::array();
      if (found_orig && !orig_list.is_array()) {
        Fail("expected a []interface {}, but received a " + std::string(orig_list.type_name()));
      }
      if (found_patch && !patch_list.is_array()) {
        Fail("expected a []interface {}, but received a " + std::string(patch_list.type_name()));
      }
      const Field* f = types::FindField(t, k);
      std::string merge_key = f ? f->merge_key : "";
      ValidatePatchWithSetOrderList(patch_list, order, merge_key);
      Json merged;
      if (found_orig && !found_patch) {
        merged = orig_list;
      } else if (!found_orig && found_patch) {
        merged = patch_list;
        Clean(merged);
      } else if (found_orig && found_patch) {
        merged = MergeSliceHandler(orig_list, patch_list, types::ChildType(t, k), f && f->smp_merge,
                                   merge_key, false, depth + 1);
      } else {
        continue;
      }
      Elem kind = ElementKind(orig_list, patch_list);
      if (kind == Elem::kNone) kind = merge_key.empty() ? Elem::kScalar : Elem::kMap;
      Json in, out;
      Partition(merged, order, merge_key, merge_key.empty() ? Elem::kScalar : Elem::kMap, &in,
                &out);
      original[k] = NormalizeElementOrder(in, out, order, orig_list, merge_key, kind);
      patch.erase(k);
    }
  }

  static void ValidatePatchWithSetOrderList(const Json& patch_list, const Json& order,
                                            const std::string& merge_key) {
    if (order.empty() || patch_list.empty()) return;
    Json non_delete = Json::array();
    if (!merge_key.empty()) {
      for (const auto& v : patch_list) {
        if (!v.is_object()) {
          Fail("expected a map[string]interface {}, but received a " + std::string(v.type_name()));
        }
        if (!IsDeleteDirective(v)) non_delete.push_back(v);
      }
    } else {
      non_delete = patch_list;
    }
    size_t pi = 0, oi = 0;
    while (pi < non_delete.size() && oi < order.size()) {
      const Json& p = non_delete[pi];
      if (p.is_object() && p.contains(kDirective)) {
        ++pi;
        continue;
      }
      bool equal;
      if (merge_key.empty()) {
        equal = p == order[oi];
      } else {
        if (!order[oi].is_object()) {
          Fail("expected a map[string]interface {}, but received a " +
               std::string(order[oi].type_name()));
        }
        if (!p.contains(merge_key)) NoMergeKey(p, merge_key);
        if (!order[oi].contains(merge_key)) NoMergeKey(order[oi], merge_key);
        equal = p[merge_key] == order[oi][merge_key];
      }
      if (equal) ++pi;
      ++oi;
    }
    if (pi < non_delete.size() && oi >= order.size()) {
      Fail("The order in patch list:\n" + PlainV(patch_list) +
           "\n doesn't match $setElementOrder list:\n" + PlainV(order) + "\n");
    }
  }

  Json MergeSliceHandler(Json original, Json patch, const Type* elem, bool merge,
                         const std::string& merge_key, bool is_delete_list, int depth) {
    if (!merge) {
      Clean(patch);
      return patch;
    }
    return MergeSlice(std::move(original), std::move(patch), elem, merge_key, is_delete_list,
                      depth);
  }

  Json MergeSlice(Json original, Json patch, const Type* elem, const std::string& merge_key,
                  bool is_delete_list, int depth) {
    if (depth > kMaxDepth) Fail("patch nested too deeply");
    if (original.empty() && patch.empty()) return original;
    Elem kind = ElementKind(original, patch);
    Json merged;
    if (kind != Elem::kMap) {
      if (is_delete_list) {
        Json out = Json::array();
        for (const auto& v : original) {
          if (std::find(patch.begin(), patch.end(), v) == patch.end()) out.push_back(v);
        }
        return out;
      }
      Json both = original;
      for (const auto& v : patch) both.push_back(v);
      merged = DeduplicateScalars(std::move(both));
    } else {
      if (merge_key.empty()) Fail("cannot merge lists without merge key for type map");
      MergeSliceWithSpecialElements(original, patch, merge_key);
      merged = MergeSliceWithoutSpecialElements(original, patch, merge_key, elem, depth);
    }
    Json in, out;
    Partition(merged, patch, merge_key, merge_key.empty() ? Elem::kScalar : kind, &in, &out);
    return NormalizeElementOrder(in, out, patch, original, merge_key, kind);
  }

  // Handles {"$patch": "delete"|"replace"} elements; leaves the others in `patch`.
  static void MergeSliceWithSpecialElements(Json& original, Json& patch,
                                            const std::string& merge_key) {
    Json plain = Json::array();
    bool replace = false;
    for (auto& v : patch) {
      auto d = v.find(kDirective);
      if (d == v.end()) {
        plain.push_back(std::move(v));
        continue;
      }
      if (*d == "delete") {
        auto mv = v.find(merge_key);
        if (mv == v.end()) NoMergeKey(v, merge_key);
        Json kept = Json::array();
        for (auto& o : original) {
          if (!o.is_object()) Fail("value for key is not a map.");
          auto ok = o.find(merge_key);
          if (ok != o.end() && *ok == *mv) continue;
          kept.push_back(std::move(o));
        }
        original = std::move(kept);
      } else if (*d == "replace") {
        replace = true;
      } else if (*d == "merge") {
        Fail("merging lists cannot yet be specified in the patch");
      } else {
        Fail("unknown patch type: " + PlainV(*d) + " in map: " + PlainV(v));
      }
    }
    if (replace) {
      for (auto& v : plain) Clean(v);
      original = std::move(plain);
      patch = Json::array();
      return;
    }
    patch = std::move(plain);
  }

  Json MergeSliceWithoutSpecialElements(Json original, const Json& patch,
                                        const std::string& merge_key, const Type* elem, int depth) {
    for (const auto& v : patch) {
      auto mv = v.find(merge_key);
      if (mv == v.end()) NoMergeKey(v, merge_key);
      long idx = FindByKey(original, merge_key, *mv);
      if (idx >= 0) {
        original[static_cast<size_t>(idx)] =
            MergeMap(std::move(original[static_cast<size_t>(idx)]), v, elem, depth + 1);
      } else {
        Json copy = v;
        Clean(copy);
        original.push_back(std::move(copy));
      }
    }
    return original;
  }
};

// RFC 7386, in place and depth-limited.
void MergePatchInto(Json& target, const Json& patch, int depth) {
  if (depth > kMaxDepth) Fail("patch nested too deeply");
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null()) {
      target.erase(it.key());
    } else {
      MergePatchInto(target[it.key()], *it, depth + 1);
    }
  }
}

}  // namespace

absl::StatusOr<Json> StrategicMergePatch(const Json& original, const Json& patch,
                                         std::string_view kind) {
  try {
    if (!patch.is_object()) {
      return kube::BadRequestError("invalid JSON document");
    }
    const Type* t = types::ForKind(kind);
    if (!t) {
      Json result = original;
      MergePatchInto(result, patch, 0);
      return result;
    }
    Merger m;
    return m.MergeMap(original.is_object() ? original : Json::object(), patch, t, 0);
  } catch (const PatchError& e) {
    return kube::BadRequestError(e.message);
  } catch (const std::exception& e) {
    return kube::BadRequestError(std::string("invalid patch: ") + e.what());
  }
}

}  // namespace kfaas::local
