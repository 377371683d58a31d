// Tolerant field access on Kubernetes objects held as nlohmann::json: a missing key, a value of
// another type or a non-object parent reads as null / "", never throws. For code that reads
// objects it did not build (watch events, API answers, user manifests).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace kfaas::json {

// j[key] when j is an object that has it, else a null.
inline const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// j[key] when j is an object that has it, else an empty object. A reference: the common
// j.value(key, json::object()) returns a deep copy (of all of "metadata", managedFields
// included, on every call).
inline const nlohmann::json& FieldOrEmptyObject(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() ? kEmpty : *it;
}

// j[key] when it is a string, else "".
inline std::string Str(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

}  // namespace kfaas::json
