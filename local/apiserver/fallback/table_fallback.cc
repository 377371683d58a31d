// Stand-in for table.cc until the API-logic implementation lands (server.cmake compiles this
// file only when local/apiserver/table.cc does not exist): NAME and AGE columns only.
#include "common/base/time_format.h"
#include "local/apiserver/table.h"

namespace kfaas::local {

std::vector<TableColumn> BuiltinColumns(const std::string&) {
  return {{"Name", "string", "name", "Name must be unique within a namespace.", 0, ""},
          {"Age", "date", "", "CreationTimestamp", 0, ""}};
}

std::vector<TableColumn> CustomResourceColumns(const Json&) { return BuiltinColumns(""); }

Json BuildTable(const std::string&, const std::vector<TableColumn>& columns,
                const std::vector<Json>& objects, WallTime now, IncludeObject include,
                bool with_column_definitions, const Json& list_metadata) {
  Json defs = Json::array();
  if (with_column_definitions) {
    for (const auto& c : columns) {
      defs.push_back({{"name", c.name},
                      {"type", c.type},
                      {"format", c.format},
                      {"description", c.description},
                      {"priority", c.priority}});
    }
  }
  Json rows = Json::array();
  for (const auto& o : objects) {
    const Json& m = o["metadata"];
    std::string age = "<unknown>";
    if (auto t = ParseRfc3339(m.value("creationTimestamp", ""))) {
      age = HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
    }
    Json row = {{"cells", {m.value("name", ""), age}}};
    if (include == IncludeObject::kObject) {
      row["object"] = o;
    } else if (include == IncludeObject::kMetadata) {
      row["object"] = {
          {"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", m}};
    }
    rows.push_back(row);
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", list_metadata},
          {"columnDefinitions", defs},
          {"rows", rows}};
}

absl::StatusOr<std::string> EvaluateJsonPath(const Json&, const std::string&) { return ""; }

}  // namespace kfaas::local
