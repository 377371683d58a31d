// meta.k8s.io/v1 Table output (what `kubectl get` asks for with Accept: ...;as=Table).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/base/clock.h"

namespace kfaas::local {

using Json = nlohmann::json;

struct TableColumn {
  std::string name;    // "Ready"
  std::string type;    // "string", "integer", "number", "boolean", "date"
  std::string format;  // "name" for the first column, "" otherwise
  std::string description;
  int priority = 0;       // > 0: only with -o wide
  std::string json_path;  // CRD additionalPrinterColumns jsonPath (".status.url"); "" for
                          // built-in columns computed in code
};

// The columns kubectl shows for a built-in resource ("pods", "deployments", "services",
// "namespaces", "endpoints", "endpointslices", "events", "configmaps", "secrets",
// "serviceaccounts", "leases", "customresourcedefinitions"), as the real server prints them:
// e.g. deployments: NAME READY UP-TO-DATE AVAILABLE AGE (+ CONTAINERS IMAGES SELECTOR wide).
// Column names are the server's ("Up-to-date"); kubectl upper-cases them. Any other resource
// gets the server's default convertor: Name, Created At (an RFC 3339 cell), as for CRDs.
std::vector<TableColumn> BuiltinColumns(const std::string& resource);
// NAME followed by the CRD's additionalPrinterColumns (name, type, format, description,
// priority, jsonPath). As the real server (apiextensions serveDefaultColumnsIfEmpty), an Age
// column (.metadata.creationTimestamp, type date) is added only when the CRD defines no column
// at all: a CRD that wants AGE next to its own columns lists it. Malformed entries are skipped.
std::vector<TableColumn> CustomResourceColumns(const Json& additional_printer_columns);

enum class IncludeObject { kNone, kMetadata, kObject };  // ?includeObject=, default Metadata

// Builds a Table. Row cells are computed from the columns (date columns and AGE rendered as
// kubectl ages relative to `now`, e.g. "5m"); row.object is a PartialObjectMetadata, the
// whole object, or absent, per `include`. With `with_column_definitions` false the
// columnDefinitions are empty (watch events after the first).
// Columns with a json_path take the first JSONPath result converted to the column type (as
// the CRD table convertor: missing -> null cell). Columns without one are the built-in
// printers of `resource` (pods: READY "1/1", STATUS from phase and container states such as
// CrashLoopBackOff, Completed, Init:0/1, Terminating; RESTARTS "3 (5m ago)"; ...); all
// priority > 0 cells are filled too (kubectl shows them with -o wide). `list_metadata` supplies
// metadata.resourceVersion/continue/remainingItemCount. Never throws: odd objects give odd
// cells, not errors.
Json BuildTable(const std::string& resource, const std::vector<TableColumn>& columns,
                const std::vector<Json>& objects, WallTime now, IncludeObject include,
                bool with_column_definitions, const Json& list_metadata = Json::object());

// Evaluates a kubectl-style JSONPath (".status.url", ".spec.containers[0].image",
// ".status.conditions[?(@.type=='Ready')].status", "{.a}{.b}") on an object. Multiple
// results are joined with ",". Missing paths yield "" (an empty cell, as the real server).
// Supported (client-go util/jsonpath): text and {} actions, $ and @, .field, ['field'],
// ..field (recursive), * and [*], [n], [-n], [a:b(:step)], unions [0,1] / ['a','b'],
// filters [?(@.x == 'y')] with == != < <= > >= and existence [?(@.x)], string literals
// {"\n"}, {range ...}{end}. Errors are for malformed paths only.
absl::StatusOr<std::string> EvaluateJsonPath(const Json& obj, const std::string& path);

// The matched values of a JSONPath (a single {} expression or a bare ".a.b" path), in order;
// the Table uses the first one.
absl::StatusOr<std::vector<Json>> EvaluateJsonPathValues(const Json& obj, const std::string& path);

// kubectl's age of an RFC 3339 timestamp relative to `now` ("5m", "<unknown>" when empty or
// unparsable, "<invalid>" when more than a second in the future).
std::string HumanAge(const Json& timestamp, WallTime now);

}  // namespace kfaas::local
