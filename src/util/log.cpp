#include "kopt/util/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

namespace kopt::util {

void init_logging(int verbosity, bool quiet) {
  const bool colour = isatty(STDERR_FILENO) && std::getenv("NO_COLOR") == nullptr;
  auto logger = spdlog::stderr_color_mt("kopt", colour ? spdlog::color_mode::automatic
                                                       : spdlog::color_mode::never);
  logger->set_pattern("kopt: %^%l%$: %v");
  spdlog::level::level_enum level = spdlog::level::info;
  if (verbosity == 1) level = spdlog::level::debug;
  if (verbosity >= 2) level = spdlog::level::trace;
  if (quiet) level = spdlog::level::warn;
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

}  // namespace kopt::util
