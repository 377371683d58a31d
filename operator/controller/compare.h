// Semantic comparison of desired and live objects, so the reconciler writes only when a field
// it owns differs and never fights the API server's defaulting.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace kfaas::op {

using Json = nlohmann::json;

// apimachinery's equality.Semantic.DeepDerivative on JSON: true when every field set in `want`
// has the same value in `have`. Unset and empty values in `want` (null, "", [], {}) are
// ignored; fields only in `have` (server defaults) are ignored; arrays must have the same
// length and match element by element; numbers compare by value (1 == 1.0). Under
// resources.requests / resources.limits, quantities compare by value ("0.1" == "100m",
// "1Gi" == "1024Mi").
// `diff`, when given, receives the path of the first difference ("spec.template.spec...").
bool IsDerivative(const Json& want, const Json& have, std::string* diff = nullptr);

// A Kubernetes resource quantity ("100m", "64Mi", "1.5", "2e3", 1) as a number; nullopt if it
// is not one.
std::optional<long double> ParseQuantity(const Json& q);

}  // namespace kfaas::op
