// Decoding of Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf) into
// JSON, for the built-in kinds kubectl's typed clients create (client-go >= 0.31 sends
// protobuf by default: `kubectl create deployment|configmap|secret|namespace|service`,
// `kubectl run`, `kubectl expose`). Wire format: "k8s\0" + runtime.Unknown{typeMeta, raw}.
// Table-driven over the fields of k8s.io/api's generated.proto that these commands use;
// unknown fields are skipped. Responses are always JSON (clients accept it).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas::local {

// 415 UnsupportedMediaType for kinds without a decoder, 400 for malformed input.
absl::StatusOr<nlohmann::json> DecodeKubernetesProtobuf(const std::string& body);

}  // namespace kfaas::local
