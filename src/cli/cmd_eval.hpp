#pragma once
#include <CLI/CLI.hpp>

#include "kopt/core/eval.hpp"
#include "limit_options.hpp"
#include "ncu_option.hpp"

namespace kopt::cli {

struct EvalCommand {
  core::EvalOptions options;
  bool json = false;
  std::string time;       // --time; empty: claim on cuda, none on cpu
  bool no_flush = false;  // --no-flush
  NcuOption ncu;          // --ncu, --ncu-path
};

// Adds `kopt eval` to `app`, filling `cmd` when parsed.
CLI::App* add_eval_command(CLI::App& app, EvalCommand& cmd);
// Runs it; returns the exit code.
int run_eval(const EvalCommand& cmd);

}  // namespace kopt::cli
