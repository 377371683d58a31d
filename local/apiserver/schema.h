// Structural-schema processing for custom resources (apiextensions.k8s.io/v1
// openAPIV3Schema), in the order the API server applies it: prune unknown fields, default,
// then validate.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/errors.h"

namespace kfaas::local {

using Json = nlohmann::json;

struct SchemaResult {
  // Invalid values: 422 causes with field paths like "spec.scale.max" or "spec.env[0].name".
  std::vector<kube::Cause> errors;
  // Paths of fields not in the schema (and not under x-kubernetes-preserve-unknown-fields),
  // e.g. "spec.colour". They are removed from the object; with fieldValidation=Strict the
  // server refuses the request naming them: `unknown field "spec.colour"`.
  std::vector<std::string> unknown_fields;
};

// Prunes, defaults and validates `obj` in place against `schema`. Validates everything under
// the schema's properties; apiVersion/kind/metadata are left to the server (they are never
// pruned at the root or in embedded resources). Supported keywords:
// type (object, array, string, integer, number, boolean), properties, additionalProperties
// (schema or bool), items, required, enum, minimum/maximum (+exclusive*), multipleOf,
// minLength/maxLength, minItems/maxItems, min/maxProperties, pattern (RE2 syntax, as Go's
// regexp), format (the string formats apiextensions keeps: date-time, date, duration, byte,
// uuid*, ipv4, ipv6, cidr, mac, hostname, email, uri, ...; like the real server, int32/int64 set
// no range), nullable, default, x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string,
// x-kubernetes-embedded-resource (apiVersion and kind required), x-kubernetes-list-type
// set/map (duplicates), anyOf/oneOf/allOf/not (validation only).
// Order as the real server: prune, drop non-nullable nulls without default, default, validate.
// Integral floats (5.0) are accepted for integer fields and read back as integers, as after
// Go's JSON round trip. Never throws; recursion follows the schema and stops at 100 levels.
// Error messages follow the API server's wording, e.g.
//   spec.timeoutSeconds: Invalid value: 2000: spec.timeoutSeconds in body should be less than
//   or equal to 900
//   spec.port: Invalid value: "string": spec.port in body must be of type integer: "string"
//   spec.image: Required value
SchemaResult ProcessObject(const Json& schema, Json& obj);

// Checks that a CRD version's schema is structural (every node has a type, unless
// x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields). Returns causes with
// fields like "spec.versions[0].schema.openAPIV3Schema.properties[spec].type". Also refuses
// what the real CRD validation refuses ($ref, properties with additionalProperties, uniqueItems,
// invalid defaults, bad x-kubernetes-list-type, ...); those are reported alone, before the
// structural pass, and structural errors come sorted as the real server sorts them.
std::vector<kube::Cause> CheckStructural(const Json& schema, const std::string& field_prefix);

}  // namespace kfaas::local
