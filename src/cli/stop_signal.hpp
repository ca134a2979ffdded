#pragma once
// SIGINT and SIGTERM as a request to stop: commands that keep state (kopt optimize, kopt
// ask) finish what they can, save it and exit 130, instead of dying mid-write.
#include <atomic>

namespace kopt::cli {

// Set by the handlers; read by loops, waiting requests and requests in flight.
std::atomic<bool>& stop_requested();
// Installs the handlers (no SA_RESTART: blocking calls see EINTR and re-check).
void install_stop_handlers();

}  // namespace kopt::cli
