// Label and field selectors, as the API server parses them (apimachinery labels.Parse and
// fields.ParseSelector).
//
// Label selector grammar: comma-separated requirements, each one of
//   key=value  key==value  key!=value  key in (v1,v2)  key notin (v1,v2)  key  !key
//   key>5  key<5 (integer comparisons)
// with Kubernetes key and value syntax checks. Error messages are apimachinery's, e.g.
//   unable to parse requirement: <nil>: Invalid value: "a:b": name part must consist of ...
//   found '', expected: identifier after ','
// (the server puts them in a 400 BadRequest). All functions here are total: they never throw
// and never recurse on their input. Field selectors support
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
  // kGreaterThan/kLessThan: label selectors only ("replicas>2"); values[0] is an integer.
  enum class Op {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;  // sorted and unique for kIn/kNotIn
};

class LabelSelector {
 public:
  // An empty string selects everything. Errors are BadRequest-style messages naming the
  // offending part: `unable to parse requirement: found 'x', expected: ...`.
  static absl::StatusOr<LabelSelector> Parse(std::string_view selector);
  // From a metav1.LabelSelector object ({matchLabels, matchExpressions}), as
  // metav1.LabelSelectorAsSelector: null selects nothing, {} selects everything, operators
  // In/NotIn/Exists/DoesNotExist.
  static absl::StatusOr<LabelSelector> FromJson(const Json& selector);
  // A selector that matches no object (what a null metav1.LabelSelector means).
  static LabelSelector Nothing();
  // `labels` is a JSON object of string values (or null/absent = no labels).
  bool Matches(const Json& labels) const;
  // True when it selects everything.
  bool Empty() const { return requirements_.empty() && !nothing_; }
  std::string String() const;  // canonical form
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;  // sorted by key
  bool nothing_ = false;
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
  std::string String() const;  // canonical form, values escaped
  // Fails with the server's `field label not supported: <field>` for the first field not in
  // `supported` (e.g. {"metadata.name", "metadata.namespace"} for custom resources).
  absl::Status CheckFields(const std::vector<std::string>& supported) const;

 private:
  std::vector<Requirement> requirements_;  // only kEquals / kNotEquals
};

// Kubernetes name syntax checks (apimachinery util/validation). Each returns the list of
// problems in the real wording (empty = valid), e.g. "name part must consist of alphanumeric
// characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g.
// 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '...')".
std::vector<std::string> IsQualifiedName(std::string_view value);     // label/annotation keys
std::vector<std::string> IsValidLabelValue(std::string_view value);   // label values
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);  // most object names
std::vector<std::string> IsDNS1123Label(std::string_view value);      // namespaces, services
// Go's strconv.Quote-like quoting used in field error messages ("a\"b").
std::string GoQuote(std::string_view s);

}  // namespace kfaas::kube
