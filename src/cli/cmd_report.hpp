#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace kopt::cli {

// `kopt report RUN_DIR [--json]`: the summary of a `kopt optimize` run (or suite) from its
// run.json, and the prompts still waiting for replies (files provider). Reads only.
struct ReportCommand {
  std::string run_dir;
  bool json = false;
};

CLI::App* add_report_command(CLI::App& app, ReportCommand& cmd);
// Returns the exit code: 0, or 2 when RUN_DIR holds no readable run.
int run_report(const ReportCommand& cmd);

}  // namespace kopt::cli
