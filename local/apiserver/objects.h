// Object-level rules of the API server that do not need the store: name and metadata
// validation, built-in kinds' defaults and validation, the decode-type checks.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
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

// Whether `a` and `b` are equal once the top-level members named in `skip` are left out of both
// and, when `metadata_skip` is not empty, the members named in it are left out of both
// "metadata" objects. Non-objects compare with ==. Compares in place, without the copies that
// erasing the members from a copy of each would cost (an API write compares the stored and the
// new object three times: for no-op detection, generation and managedFields).
bool SameObjectExcept(const Json& a, const Json& b, std::initializer_list<std::string_view> skip,
                      std::initializer_list<std::string_view> metadata_skip = {});

// "4 characters" of generateName suffix alphabet, as the real server.
std::string RandomNameSuffix();

}  // namespace kfaas::local
