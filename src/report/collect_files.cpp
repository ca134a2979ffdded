// A candidate's folder as the report document's row: record.json (already checked by
// load_run) plus excerpts of candidate.py, log and verify.json, each capped so that a run
// of hundreds of candidates still makes a page a browser opens at once.
#include "collect_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "fields.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

constexpr size_t kSourceCap = 24 * 1024;  // bytes of candidate.py in the document
constexpr size_t kLogCap = 64 * 1024;     // bytes of the log read to take its last lines
constexpr size_t kLogLines = 12;

nlohmann::json maybe(const std::optional<double>& x) { return x ? nlohmann::json(*x) : nlohmann::json(nullptr); }

// The final gate's figures against the best baseline, or null when it did not time it.
nlohmann::json claim_row(const nlohmann::json& claim) {
  if (!claim.is_object()) return nullptr;
  const auto& v = at(at(claim, "speedup"), "vs_best");
  return {{"outcome", str(claim, "outcome")}, {"speedup", maybe(opt_num(v, "median"))},
          {"low", maybe(opt_num(v, "low"))},  {"high", maybe(opt_num(v, "high"))},
          {"pairs", integer(v, "pairs")},     {"faster", flag(claim, "faster")},
          {"reason", str(claim, "reason")}};
}

// The top kernels of a profile ({kernels: [{name, us_per_call, share, ...}]}), at most `n`.
nlohmann::json top_kernels(const nlohmann::json& profile, size_t n) {
  nlohmann::json out = nlohmann::json::array();
  const auto& k = at(profile, "kernels");
  if (!k.is_array()) return out;
  for (size_t i = 0; i < k.size() && i < n; ++i)
    out.push_back({{"name", str(k[i], "name")}, {"us_per_call", num(k[i], "us_per_call")}, {"share", num(k[i], "share")}});
  return out;
}

}  // namespace

std::string read_capped(const std::string& path, size_t max, bool* truncated) {
  if (truncated) *truncated = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[8192];
  while (out.size() <= max) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (out.size() > max) {
    out.resize(max);
    if (truncated) *truncated = true;
  }
  return out;
}

nlohmann::json read_json_file(const std::string& path) {
  const auto text = core::read_text(path);
  if (!text) return nullptr;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::string candidate_folder(const std::string& run_dir, int id) {
  return run_dir + "/candidates/" + core::candidate_dir_name(id);
}

std::string rule_detail(const nlohmann::json& verify, const std::string& check) {
  const auto& rules = at(verify, "rules");
  if (check.empty() || !rules.is_array()) return {};
  for (const auto& r : rules)
    if (str(r, "id") == check) return str(r, "detail");
  return {};
}

nlohmann::json record_row(const std::string& run_dir, const core::CandidateRecord& c) {
  const std::string folder = candidate_folder(run_dir, c.id);
  const auto timing = read_json_file(folder + "/timing.json");
  const auto verify = c.outcome.empty() || c.outcome == "correct" ? nlohmann::json() : read_json_file(folder + "/verify.json");
  bool truncated = false;
  std::string source = read_capped(folder + "/candidate.py", kSourceCap, &truncated);
  std::string log = c.log_tail;
  if (log.empty()) {
    std::string whole = read_capped(folder + "/log", kLogCap * 16);
    if (whole.size() > kLogCap) whole = whole.substr(whole.size() - kLogCap);
    log = util::tail_lines(whole, kLogLines);
  }
  const auto& t = at(timing, "candidate");
  return {{"id", c.id},
          {"round", c.round},
          {"status", c.status},
          {"strategy", c.strategy},
          {"origin", c.origin},
          {"parent", c.parent},
          {"outcome", c.outcome},
          {"check", c.check},
          {"reason", c.reason},
          {"rule_detail", rule_detail(verify, c.check)},
          {"median_ms", maybe(c.median_ms)},
          {"iqr_ms", maybe(opt_num(t, "iqr_ms"))},
          {"speedup", maybe(c.speedup)},
          {"speedup_low", maybe(c.speedup_low)},
          {"speedup_high", maybe(c.speedup_high)},
          {"timing_error", c.timing_error},
          {"claim", claim_row(c.claim)},
          {"proposed_at", c.proposed_at},
          {"verify_s", c.verify_end > c.verify_start && c.verify_start > 0 ? c.verify_end - c.verify_start : 0.0},
          {"tokens", {{"input", c.input_tokens}, {"output", c.output_tokens}, {"estimated", c.tokens_estimated}}},
          {"cost_usd", c.cost_usd},
          {"kernels", top_kernels(c.profile, 5)},
          {"source", source},
          {"source_truncated", truncated},
          {"log_excerpt", log}};
}

}  // namespace kopt::report
