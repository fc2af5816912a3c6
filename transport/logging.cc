// Default transport logger.

#include "transport/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace synod::transport {

std::shared_ptr<spdlog::logger> LoggerOrDefault(std::shared_ptr<spdlog::logger> logger) {
  if (logger != nullptr) return logger;
  return std::make_shared<spdlog::logger>("transport",
                                          std::make_shared<spdlog::sinks::stderr_sink_mt>());
}

}  // namespace synod::transport
