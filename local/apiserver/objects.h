// Object-level rules of the API server that do not need the store: name and metadata
// validation, built-in kinds' defaults and validation, the decode-type checks.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/kube/errors.h"
#include "local/apiserver/registry.h"

namespace kfaas::local {

using Json = nlohmann::json;

// "a lowercase RFC 1123 subdomain must consist of ..." or "" when valid.
std::string CheckDns1123Subdomain(const std::string& v);
std::string CheckDns1123Label(const std::string& v);
std::string CheckDns1035Label(const std::string& v);
std::string CheckQualifiedName(const std::string& v);
std::string CheckLabelValue(const std::string& v);

// Decode-level checks (the real server's JSON decoding into Go types): metadata field types,
// built-in integer/string fields. Returns a 400 BadRequest naming the field, or OK.
absl::Status CheckDecodeTypes(const ResourceInfo& r, const Json& obj);

// metadata validation (name per kind, labels, annotations, finalizers, ownerReferences).
std::vector<kube::Cause> ValidateMetadata(const ResourceInfo& r, const Json& obj);
// Unknown metadata fields ("metadata.foo"), for strict field validation.
std::vector<std::string> UnknownMetadataFields(const Json& obj);

// Built-in kinds: defaults applied on create/update (the real server's SetDefaults_*).
void ApplyBuiltinDefaults(const ResourceInfo& r, Json& obj);
// Built-in kinds: validation causes (required fields, ranges, selector/template match).
std::vector<kube::Cause> ValidateBuiltin(const ResourceInfo& r, const Json& obj);

// "4 characters" of generateName suffix alphabet, as the real server.
std::string RandomNameSuffix();

}  // namespace kfaas::local
