#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace kopt::cli {

// `kopt show RUN_DIR ID`: one candidate of a run on the terminal (report::show_candidate).
struct ShowCommand {
  std::string run_dir;
  std::string id;  // "7" or "0007" (decimal; CLI11 would read a leading 0 as octal)
};

CLI::App* add_show_command(CLI::App& app, ShowCommand& cmd);
// Returns the exit code: 0, or 2 when the run or the candidate cannot be read (one line on stderr).
int run_show(const ShowCommand& cmd);

}  // namespace kopt::cli
