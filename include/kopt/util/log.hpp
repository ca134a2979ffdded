#pragma once
// Logging: spdlog to stderr only; stdout is reserved for machine output.

namespace kopt::util {

// Sets up the default logger on stderr. verbosity: 0 = info, 1 = debug, 2 = trace;
// quiet drops everything below warnings. Colours only on a terminal and without NO_COLOR.
void init_logging(int verbosity, bool quiet);

}  // namespace kopt::util
