#pragma once
#include <CLI/CLI.hpp>

#include "kopt/core/timing.hpp"
#include "ncu_option.hpp"

namespace kopt::cli {

struct BaselineCommand {
  core::BaselineOptions options;
  bool json = false;
  bool no_flush = false;
  NcuOption ncu;
};

// Adds `kopt baseline` to `app`, filling `cmd` when parsed.
CLI::App* add_baseline_command(CLI::App& app, BaselineCommand& cmd);
// Runs it; returns the exit code (0 timed, 2 the workload is unusable).
int run_baseline(const BaselineCommand& cmd);

}  // namespace kopt::cli
