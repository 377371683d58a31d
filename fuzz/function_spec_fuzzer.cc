// Fuzzes the Function parser (operator/api/function.h): arbitrary JSON as a Function object.
// Invariants: parsing never crashes; a parsed spec survives SpecToJson -> ParseFunctionSpec
// unchanged; Validate never crashes on a parsed Function.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "operator/api/function.h"

namespace api = kfaas::op;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto obj = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return 0;
  (void)api::ParseFunctionSpec(obj);
  if (obj.is_object() && obj.contains("spec")) (void)api::ParseFunctionSpec(obj["spec"]);
  auto fn = api::ParseFunction(obj);
  if (!fn.ok()) return 0;
  auto again = api::ParseFunctionSpec(api::SpecToJson(fn->spec));
  if (!again.ok() || !(*again == fn->spec)) abort();  // the round trip is lossless
  api::ValidationOptions opts;
  opts.require_command = size % 2 == 0;
  api::HostClaim self = api::ClaimOf(*fn);
  (void)api::Validate(*fn, opts, {self});
  (void)api::ClaimFromObject(obj);
  return 0;
}
