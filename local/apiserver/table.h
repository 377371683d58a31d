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
std::vector<TableColumn> BuiltinColumns(const std::string& resource);
// NAME, the CRD's additionalPrinterColumns (jsonPath, type, priority), and AGE unless the CRD
// defines a column of that name (the real server's behaviour).
std::vector<TableColumn> CustomResourceColumns(const Json& additional_printer_columns);

enum class IncludeObject { kNone, kMetadata, kObject };  // ?includeObject=, default Metadata

// Builds a Table. Row cells are computed from the columns (date columns and AGE rendered as
// kubectl ages relative to `now`, e.g. "5m"); row.object is a PartialObjectMetadata, the
// whole object, or absent, per `include`. With `with_column_definitions` false the
// columnDefinitions are empty (watch events after the first).
Json BuildTable(const std::string& resource, const std::vector<TableColumn>& columns,
                const std::vector<Json>& objects, WallTime now, IncludeObject include,
                bool with_column_definitions, const Json& list_metadata = Json::object());

// Evaluates a kubectl-style JSONPath (".status.url", ".spec.containers[0].image",
// ".status.conditions[?(@.type=='Ready')].status", "{.a}{.b}") on an object. Multiple
// results are joined with ",". Missing paths yield "" (an empty cell, as the real server).
absl::StatusOr<std::string> EvaluateJsonPath(const Json& obj, const std::string& path);

}  // namespace kfaas::local
