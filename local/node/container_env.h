// A local pod's process environment and argv, as the kubelet computes them for a container:
// env (value with $(VAR) references, valueFrom fieldRef / configMapKeyRef / secretKeyRef),
// envFrom (configMapRef / secretRef with prefix), and $(VAR) expansion of command and args.
// Pure, apart from the `lookup` callback that fetches ConfigMaps and Secrets.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas::node {

using Json = nlohmann::json;
using EnvList = std::vector<std::pair<std::string, std::string>>;

// Fetches a core/v1 object ("configmaps" or "secrets") from the pod's namespace. NotFound when
// absent; the caller turns errors into CreateContainerConfigError.
using ObjectLookup =
    std::function<absl::StatusOr<Json>(const std::string& resource, const std::string& name)>;

// `base` comes first (inherited variables such as PATH and HOME), then HOSTNAME (the pod name),
// then the container's envFrom and env in order, then PORT=<port> (always last: a local pod's
// port is the node's choice). Later entries replace earlier ones with the same name.
absl::StatusOr<EnvList> BuildContainerEnv(const Json& pod, const Json& container, uint16_t port,
                                          const EnvList& base, const ObjectLookup& lookup);

// Expands $(NAME) from `vars`; $$ escapes a '$'; unknown references stay as written.
std::string ExpandVars(const std::string& s, const std::map<std::string, std::string>& vars);

// command + args with $(VAR) expansion. Empty when the container has no command (kfaas-local
// cannot run an image's entrypoint).
std::vector<std::string> BuildArgv(const Json& container, const EnvList& env);

std::vector<std::string> ToEnvStrings(const EnvList& env);

}  // namespace kfaas::node
