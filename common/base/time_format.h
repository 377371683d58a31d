// RFC 3339 timestamps as Kubernetes writes them ("2026-11-29T11:28:54Z", and with
// microseconds for MicroTime fields such as Lease renewTime).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/base/clock.h"

namespace kfaas {

std::string FormatRfc3339(WallTime t);                     // seconds precision, UTC, "Z"
std::string FormatRfc3339Micro(WallTime t);                // "2026-11-29T11:28:54.123456Z"
std::optional<WallTime> ParseRfc3339(std::string_view s);  // accepts fractions and offsets

// kubectl's age format (apimachinery duration.HumanDuration): "45s", "5m", "3h12m", "4d", "2y".
std::string HumanDuration(std::chrono::seconds d);

}  // namespace kfaas
