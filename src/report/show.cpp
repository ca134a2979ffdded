// `kopt show RUN_DIR ID`: one candidate on the terminal, from its folder. The diff against
// its parent (or the workload) comes from the system's `diff -u`, run with an explicit
// argv and environment; without it the report says so and names the two files.
#include "kopt/report/show.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "collect_files.hpp"
#include "fields.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/util/json.hpp"
#include "kopt/sandbox/process.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

constexpr size_t kTextCap = 6 * 1024;  // bytes of a prompt, reply or source shown

// A file's text for the terminal: control characters removed, capped, with a pointer to
// the whole file when it was longer.
std::string excerpt(const std::string& path, size_t cap = kTextCap) {
  bool truncated = false;
  std::string text = util::strip_control(read_capped(path, cap, &truncated));
  if (text.empty()) return "  (none)\n";
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out += "  " + line + "\n";
  if (truncated) out += fmt::format("  ... (first {} KiB; the whole file: {})\n", cap / 1024, path);
  return out;
}

std::string heading(const std::string& title) { return "\n== " + title + " ==\n"; }

std::string find_diff() {
  for (const char* p : {"/usr/bin/diff", "/bin/diff"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

std::string diff_text(const std::string& from, const std::string& from_label, const std::string& to,
                      const std::string& to_label) {
  const std::string diff = find_diff();
  if (diff.empty()) return fmt::format("  (no diff program found: install diffutils, or compare {} and {})\n", from, to);
  sandbox::SpawnSpec spec;
  spec.argv = {diff, "-u", "--label", from_label, "--label", to_label, from, to};
  spec.env = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
  auto got = sandbox::run_captured(spec, std::chrono::seconds(10));
  if (!got) return "  (diff failed: " + got.failure().message + ")\n";
  // diff exits 0 (same), 1 (different), 2 (trouble).
  if (got->exit.exited && got->exit.code == 0) return "  (identical)\n";
  if (!got->exit.exited || got->exit.code > 1)
    return "  (diff failed: " + util::strip_control(util::tail_lines(got->err, 2)) + ")\n";
  std::string out = util::strip_control(got->out);
  if (out.size() >= 64 * 1024 - 1) out += "\n... (diff cut at 64 KiB)";
  return out + (out.empty() || out.back() == '\n' ? "" : "\n");
}

// Median, quartiles and an ASCII histogram of the per-call times of timed batches.
std::string timing_text(const nlohmann::json& timing) {
  const auto& t = at(timing, "candidate");
  if (!t.is_object()) return "  (not timed)\n";
  std::string out = fmt::format("  median {:.4f} ms, Q1 {:.4f}, Q3 {:.4f}, IQR {:.4f}, min {:.4f} ({} batches x {} calls, {} voided)\n",
                                num(t, "median_ms"), num(t, "q1_ms"), num(t, "q3_ms"), num(t, "iqr_ms"), num(t, "min_ms"),
                                integer(t, "batches"), integer(t, "calls_per_batch"), integer(t, "voided"));
  std::vector<double> xs;
  if (at(at(t, "detail"), "per_call_ms").is_array())
    for (const auto& v : at(at(t, "detail"), "per_call_ms"))
      if (v.is_number()) xs.push_back(v.get<double>());
  if (xs.size() < 2) return out;
  const double lo = *std::min_element(xs.begin(), xs.end()), hi = *std::max_element(xs.begin(), xs.end());
  constexpr int kBins = 8;
  std::vector<int> bins(kBins, 0);
  for (double x : xs) ++bins[std::min(kBins - 1, hi > lo ? static_cast<int>((x - lo) / (hi - lo) * kBins) : 0)];
  const int most = *std::max_element(bins.begin(), bins.end());
  out += "  per-call time of each batch (ms):\n";
  for (int b = 0; b < kBins; ++b)
    out += fmt::format("  {:>10.4f} - {:<10.4f} {:<40} {}\n", lo + (hi - lo) * b / kBins, lo + (hi - lo) * (b + 1) / kBins,
                       std::string(static_cast<size_t>(std::lround(40.0 * bins[static_cast<size_t>(b)] / most)), '#'),
                       bins[static_cast<size_t>(b)]);
  return out;
}

std::string profile_text(const nlohmann::json& profile) {
  const auto& k = at(profile, "kernels");
  if (!k.is_array() || k.empty()) return "  (none)\n";
  std::string out;
  for (size_t i = 0; i < k.size() && i < 10; ++i)
    out += fmt::format("  {:>10.2f} us {:>6.1f}%  {}\n", num(k[i], "us_per_call"), 100 * num(k[i], "share"),
                       util::strip_control(str(k[i], "name")));
  return out;
}

}  // namespace

Result<std::string> show_candidate(const std::string& run_dir, int id) {
  auto state = core::load_run(run_dir);
  if (!state) return state.failure();
  const auto it = state->candidates.find(id);
  if (it == state->candidates.end()) {
    // kopt report still names it from run.json's summary: say why show cannot.
    const std::string folder = candidate_folder(run_dir, id);
    if (core::is_directory(folder) && !core::is_regular_file(folder + "/record.json"))
      return Failure{"usage", fmt::format("{}: candidate {}'s record.json is missing (a damaged run folder; {} has the rest)",
                                          run_dir, id, folder)};
    const double counted = util::json_number(state->header.value("summary", nlohmann::json()), "candidates");
    if (counted >= id && !core::is_directory(folder))
      return Failure{"usage", fmt::format("{}: no candidate {}: its folder is gone, though run.json's summary counts {} "
                                          "candidates (a damaged run folder)",
                                          run_dir, id, static_cast<long long>(counted))};
    return Failure{"usage", fmt::format("{}: no candidate {} (the run has {})", run_dir, id, state->candidates.size())};
  }
  const auto& c = it->second;
  const std::string folder = candidate_folder(run_dir, id);
  std::ostringstream out;
  out << fmt::format("candidate {} ({}) of {}\n", core::candidate_dir_name(id), util::strip_control(c.strategy), run_dir);
  out << fmt::format("  round {}, parent {}, origin {}\n", c.round, c.parent ? core::candidate_dir_name(c.parent) : "none",
                     util::strip_control(c.origin));
  out << heading("outcome");
  out << "  " << util::strip_control(c.status == "done" ? c.outcome : c.status)
      << (c.check.empty() ? "" : " (rule " + util::strip_control(c.check) + ")") << "\n";
  if (!c.reason.empty()) out << "  " << util::strip_control(c.reason) << "\n";
  const auto verify = read_json_file(folder + "/verify.json");
  if (at(verify, "rules").is_array())
    for (const auto& r : at(verify, "rules"))
      if (str(r, "status") == "failed" || (str(r, "id") == c.check && !str(r, "detail").empty()))
        out << fmt::format("  {} {}: {}\n", util::strip_control(str(r, "status")), util::strip_control(str(r, "id")),
                           util::strip_control(str(r, "detail")));
  if (c.median_ms) out << fmt::format("  ranking time {:.4f} ms", *c.median_ms);
  if (c.speedup) {
    out << fmt::format(", {:.3f}x the best baseline", *c.speedup);
    if (c.speedup_low && c.speedup_high)
      out << fmt::format(" (ranking quartiles {:.3f}-{:.3f})", *c.speedup_low, *c.speedup_high);
  }
  if (c.median_ms) out << "\n";
  if (!c.timing_error.empty()) out << "  timing: " << util::strip_control(c.timing_error) << "\n";
  if (c.claim.is_object()) {
    const auto& v = at(at(c.claim, "speedup"), "vs_best");
    out << fmt::format("  final gate: {}, {:.3f}x (95% interval {:.3f}-{:.3f}, {} pairs){}\n",
                       util::strip_control(str(c.claim, "outcome")),
                       num(v, "median"), num(v, "low"), num(v, "high"), integer(v, "pairs"),
                       flag(c.claim, "faster") ? ": faster" : "");
  }
  out << heading("timing distribution") << timing_text(read_json_file(folder + "/timing.json"));
  out << heading("profile (top kernels per call)") << profile_text(c.profile);
  out << heading("build and run log (last lines)");
  std::string log = c.log_tail.empty() ? util::tail_lines(read_capped(folder + "/log", 1 << 20), 20) : c.log_tail;
  log = util::strip_control(log);
  out << (log.empty() ? "  (empty)\n" : log + (log.back() == '\n' ? "" : "\n"));
  out << heading("prompt (" + folder + "/prompt.md)") << excerpt(folder + "/prompt.md");
  if (core::is_regular_file(folder + "/response.md"))
    out << heading("reply (" + folder + "/response.md)") << excerpt(folder + "/response.md");
  out << heading("source (" + folder + "/candidate.py)") << excerpt(folder + "/candidate.py", 4 * kTextCap);
  const std::string base = c.parent ? candidate_folder(run_dir, c.parent) + "/candidate.py" : run_dir + "/workload.py";
  const std::string label = c.parent ? core::candidate_dir_name(c.parent) + "/candidate.py" : "workload.py (the reference)";
  out << heading("diff against " + label);
  if (!core::is_regular_file(base) || !core::is_regular_file(folder + "/candidate.py"))
    out << "  (no " << (core::is_regular_file(base) ? folder + "/candidate.py" : base) << ")\n";
  else
    out << diff_text(base, label, folder + "/candidate.py", core::candidate_dir_name(id) + "/candidate.py");
  return out.str();
}

}  // namespace kopt::report
