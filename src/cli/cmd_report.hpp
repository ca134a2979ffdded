#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace kopt::cli {

// `kopt report DIR... [--format text|md|html|json] [-o FILE]`: the report of `kopt
// optimize` runs (run directories, suite directories, or shards to merge), regenerated
// from the directories at any time (docs/reports.md). Reads only.
struct ReportCommand {
  std::vector<std::string> dirs;
  std::string format = "text";
  std::string output;  // empty: stdout
  bool json = false;   // --json, the same as --format json
};

CLI::App* add_report_command(CLI::App& app, ReportCommand& cmd);
// Returns the exit code: 0, or 2 when a directory holds no readable run (one line on stderr).
int run_report(const ReportCommand& cmd);

}  // namespace kopt::cli
