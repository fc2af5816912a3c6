// Logger selection for transport objects. Internal to transport/.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace synod::transport {

// Returns `logger` if set, otherwise a new unregistered logger named
// "transport" writing to stderr (no global registry involved).
std::shared_ptr<spdlog::logger> LoggerOrDefault(std::shared_ptr<spdlog::logger> logger);

}  // namespace synod::transport
