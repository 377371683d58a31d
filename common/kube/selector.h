// Label and field selectors, as the API server parses them (apimachinery labels.Parse and
// fields.ParseSelector).
//
// Label selector grammar: comma-separated requirements, each one of
//   key=value  key==value  key!=value  key in (v1,v2)  key notin (v1,v2)  key  !key
// with Kubernetes key and value syntax checks. Field selectors support
//   field=value  field==value  field!=value
// where field is a dotted path into the object ("metadata.name", "status.phase",
// "spec.nodeName").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas::kube {

using Json = nlohmann::json;

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // An empty string selects everything. Errors are BadRequest-style messages naming the
  // offending part: `unable to parse requirement: found 'x', expected: ...`.
  static absl::StatusOr<LabelSelector> Parse(std::string_view selector);
  // From a metav1.LabelSelector object ({matchLabels, matchExpressions}).
  static absl::StatusOr<LabelSelector> FromJson(const Json& selector);
  // `labels` is a JSON object of string values (or null/absent = no labels).
  bool Matches(const Json& labels) const;
  bool Empty() const { return requirements_.empty(); }
  std::string String() const;  // canonical form
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  static absl::StatusOr<FieldSelector> Parse(std::string_view selector);
  // Missing fields compare as "". Non-string scalars compare by their JSON text.
  bool Matches(const Json& object) const;
  bool Empty() const { return requirements_.empty(); }
  // The value required for `field` by an "=" term, if any (lets a server index by name).
  const std::string* RequiredValue(std::string_view field) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;  // only kEquals / kNotEquals
};

}  // namespace kfaas::kube
