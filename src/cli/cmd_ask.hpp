#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "kopt/providers/factory.hpp"

namespace kopt::cli {

// `kopt ask`: exercises a provider until `kopt optimize` exists. Builds the first-attempt
// prompt for a workload, sends N requests, extracts candidates, saves everything.
struct AskCommand {
  std::string workload;
  providers::ProviderOptions provider;
  double temperature = -1;          // < 0: not sent
  double connect_timeout_s = 10;
  double timeout_s = 600;
  int n = 1;                        // requests, all in flight at once
  std::string out_dir;              // empty: kopt-runs/ask-YYYYmmdd-HHMMSS
  std::vector<std::string> hints;
  std::vector<std::string> hint_files;
  std::string prompts_dir;
  std::string prices_file;
  long long max_tokens_total = -1;  // < 0: no limit
  double max_cost = -1;             // < 0: no limit
  bool json = false;
};

// Adds `kopt ask` to `app`, filling `cmd` when parsed.
CLI::App* add_ask_command(CLI::App& app, AskCommand& cmd);
// Runs it; returns the exit code: 0 if a candidate was extracted, 1 if none, 2 for usage
// errors (bad options, unreadable files, a missing key).
int run_ask(AskCommand cmd);

}  // namespace kopt::cli
