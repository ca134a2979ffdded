#include "cmd_show.hpp"

#include <iostream>

#include "kopt/report/show.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/util/text.hpp"
#include "usage_error.hpp"

namespace kopt::cli {

CLI::App* add_show_command(CLI::App& app, ShowCommand& cmd) {
  auto* sub = app.add_subcommand("show", "Show one candidate of a kopt optimize run: outcome, timing, profile, log, prompt, source, diff");
  sub->add_option("run_dir", cmd.run_dir, "Run directory of kopt optimize")->required();
  sub->add_option("id", cmd.id, "Candidate id (7 or 0007)")->required();
  return sub;
}

int run_show(const ShowCommand& cmd) {
  int id = 0;
  for (char c : cmd.id) id = c >= '0' && c <= '9' && id < 1'000'000 ? id * 10 + (c - '0') : -1;
  if (id < 1 || cmd.id.empty()) {
    return usage_error("candidate id must be a number from 1 (it is \"" + cmd.id + "\")");
  }
  auto text = report::show_candidate(cmd.run_dir, id);
  if (!text) {
    return usage_error(text.failure().message);
  }
  // The workload's copy and old runs may hold a secret of this environment's.
  std::cout << util::redact(*text, sandbox::secret_values(sandbox::current_environment())) << std::flush;
  return 0;
}

}  // namespace kopt::cli
