#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "kopt/core/optimize.hpp"
#include "kopt/providers/factory.hpp"
#include "limit_options.hpp"
#include "ncu_option.hpp"

namespace kopt::cli {

// `kopt optimize`: the search loop over one or more workloads (docs/optimize.md).
struct OptimizeCommand {
  core::OptimizeOptions options;
  std::vector<std::string> inputs;  // workload files or folders
  providers::ProviderOptions provider;
  std::string provider_kind = "builtin";
  std::string from;                 // replay: folder; with --resume: a candidate id
  std::string time_budget;          // "20m"
  std::string shard;                // "I/N" or "N" with the index from the environment
  bool no_wait = false;             // files: answer pending at once
  bool no_seeds = false;            // LLM providers: no builtin seeds in round 1
  bool no_prestart = false;         // start each candidate's workers only when it is evaluated
  int workloads_at_once = 1;        // a suite's workloads run side by side, one GPU gate for all
  std::string reply_timeout;        // files: "30m"; "0" or empty: wait forever
  double temperature = -1;
  double timeout_s = 600;
  std::vector<std::string> hint_files;
  std::string prompts_dir, prices_file;
  NcuOption ncu;
  CLI::App* sub = nullptr;          // to ask which options were given (resume overrides)
  // What planning a new run made on disk (plan_new_run): the folder, where kopt created
  // it, and suite.json, where it wrote one. A usage error before the runs start removes
  // them again (run_optimize), so a bad option leaves no empty run folder behind.
  std::string made_dir, made_suite;
};

CLI::App* add_optimize_command(CLI::App& app, OptimizeCommand& cmd);
// Runs it; returns the exit code (README, "Exit codes"). `python`, `quiet` and
// `verbosity` are the global flags.
int run_optimize(OptimizeCommand cmd, const std::string& python, bool quiet, int verbosity);

}  // namespace kopt::cli
