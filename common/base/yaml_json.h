// Conversions between YAML (yaml-cpp) and JSON (nlohmann::json, the project's one JSON type).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas {

using Json = nlohmann::json;

// Parses one YAML (or JSON, a YAML subset) document. Plain scalars resolve as YAML 1.2's core
// schema does: null/~/empty, true/false, integers, floats; quoted scalars stay strings.
// Errors carry the line and column, e.g. "yaml: line 3, column 5: bad indentation".
absl::StatusOr<Json> YamlToJson(std::string_view text);

// Parses a stream of "---"-separated documents; empty documents are skipped.
absl::StatusOr<std::vector<Json>> YamlDocumentsToJson(std::string_view text);

// Emits block-style YAML for a JSON value (strings that would re-parse as another type are
// quoted).
std::string JsonToYaml(const Json& value);

}  // namespace kfaas
