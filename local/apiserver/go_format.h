// Go-compatible rendering of JSON values in API error messages (internal to apiserver_logic).
//
// The real API server prints bad values with Go's fmt verbs (%v, %q, %#v) and JSON with
// encoding/json; clients such as kubectl show those strings verbatim, so we reproduce them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace kfaas::local::gofmt {

using Json = nlohmann::json;

// fmt's %v for a float64: shortest representation, exponent form when exp < -4 || exp >= 6
// ("900", "2000.5", "1e+06", "1e-05").
std::string FloatV(double v);
// encoding/json's rendering of a float64 ("2", "1.5", "1e+21").
std::string JsonFloat(double v);
// A JSON value as Go prints an interface{} holding it in a field.Error body: strings quoted
// (%q), numbers and bools with %v, null as "null", objects and arrays with %#v
// (`map[string]interface {}{"a":1}`).
std::string ErrorValue(const Json& v);
// Go's %#v of an interface{} holding a decoded JSON value.
std::string SharpV(const Json& v);
// True for JSON integers (signed, or unsigned within int64 range).
bool IsInt(const Json& v);
// The value as int64 when IsInt, else 0.
long long AsInt(const Json& v);
// The value as a double (integers converted).
double AsDouble(const Json& v);

}  // namespace kfaas::local::gofmt
