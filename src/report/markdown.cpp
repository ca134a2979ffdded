// The report document as Markdown (`kopt report --format md`): the HTML report's content
// without plots or candidate sources. Candidate text is made safe for one table cell.
#include <fmt/format.h>

#include <sstream>

#include "fields.hpp"
#include "html_parts.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/report/report.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

// Text from a candidate or a worker, safe in one Markdown table cell: no line breaks or
// pipes, no HTML (a renderer that allows inline HTML must not run a candidate's <script>).
std::string cell(const std::string& in, size_t max = 120) {
  std::string t = util::strip_control(in);
  for (auto& c : t)
    if (c == '\n' || c == '|' || c == '\t') c = ' ';
  if (t.size() > max) t = t.substr(0, max) + "...";
  return html_escape(t);
}

std::string name(const nlohmann::json& id) { return core::candidate_dir_name(static_cast<int>(id.is_number() ? id.get<long long>() : 0)); }

void run_md(std::ostringstream& md, const nlohmann::json& run) {
  md << "## " << cell(str(run, "workload_name").empty() ? str(run, "workload") : str(run, "workload_name")) << "\n\n";
  if (str(run, "status") == "not_started") {
    md << "Not started.\n\n";
    return;
  }
  md << "- workload: `" << cell(str(run, "workload"), 400) << "`\n- device: " << cell(str(run, "device"));
  if (!str(at(run, "device_info"), "name").empty()) md << " (" << cell(str(at(run, "device_info"), "name")) << ")";
  md << "\n- status: " << cell(str(run, "status"))
     << (str(run, "stop_reason").empty() ? "" : " (" + cell(str(run, "stop_reason")) + ")") << "\n";
  md << fmt::format("- candidates: {} ({} evaluated, {} pending, {} not evaluated)\n", integer(run, "candidates"),
                    integer(run, "evaluated"), integer(run, "pending"), integer(run, "not_evaluated"));
  const auto& t = at(run, "tokens");
  if (integer(t, "input") + integer(t, "output") > 0)
    md << fmt::format("- tokens: {} in, {} out{}; cost ${:.4f}\n", integer(t, "input"), integer(t, "output"),
                      flag(t, "estimated") ? " (estimated from the text)" : "", num(run, "cost_usd"));
  if (at(run, "waiting_prompts").is_array())
    for (const auto& p : at(run, "waiting_prompts")) md << "- waiting for a reply: `" << cell(str(p, "path"), 400) << "`\n";
  if (at(run, "unfinished").is_array())
    for (const auto& u : at(run, "unfinished"))
      md << "- " << cell(str(u, "status")) << ": candidate " << name(at(u, "id")) << " (" << cell(str(u, "strategy")) << ")\n";
  md << "\n### Baselines\n\n| baseline | median ms | IQR ms | min ms | note |\n|---|---|---|---|---|\n";
  if (at(run, "baseline_timing").is_array())
    for (const auto& b : at(run, "baseline_timing"))
      md << "| " << cell(str(b, "name")) << " | " << fixed(opt_num(b, "median_ms"), 4) << " | " << fixed(opt_num(b, "iqr_ms"), 4)
         << " | " << fixed(opt_num(b, "min_ms"), 4) << " | " << cell(str(b, "error")) << " |\n";
  if (!flag(at(run, "baselines"), "ok")) md << "\nNo baseline timing: " << cell(str(at(run, "baselines"), "error"), 400) << "\n";
  if (const std::string room = core::headroom_text(at(run, "headroom")); !room.empty())
    md << "\nHeadroom: " << cell(room, 400) << ".\n";
  if (const std::string drift = core::baseline_drift_text(at(run, "baseline_drift")); !drift.empty())
    md << "\nBaselines: " << cell(drift, 600) << ".\n";
  if (const std::string earlier = core::earlier_baselines_text(at(run, "earlier_baselines")); !earlier.empty())
    md << "\nBaselines " << cell(earlier, 600) << ".\n";
  md << "\n### best.py\n\n" << cell(str(run, "verdict"), 400) << ".\n\n### Fastest correct candidate\n\n";
  const auto& best = at(run, "best");
  if (!best.is_object()) {
    md << "No correct candidate.\n";
  } else {
    md << "Candidate " << name(at(best, "id")) << " (" << cell(str(best, "strategy")) << ")";
    if (const auto s = opt_num(best, "speedup")) md << fmt::format(": {:.3f}x the best baseline", *s);
    if (flag(best, "confirmed"))
      md << " (95% interval " << fixed(opt_num(best, "low"), 3) << "-" << fixed(opt_num(best, "high"), 3)
         << "): " << (flag(best, "faster") ? "faster" : "not shown to be faster");
    else
      md << " (ranking time only, not confirmed by the final gate)";
    md << "\n";
  }
  md << "\n### Outcomes\n\n| outcome | count |\n|---|---|\n";
  if (at(run, "counts").is_object())
    for (const auto& [k, v] : at(run, "counts").items()) md << "| " << cell(k) << " | " << v << " |\n";
  md << "\n### Candidates\n\n| id | round | parent | strategy | outcome | rule | median ms | speedup | final gate | reason |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
  if (at(run, "records").is_array())
    for (const auto& r : at(run, "records")) {
      const auto& claim = at(r, "claim");
      std::string gate = "-";
      if (claim.is_object())
        gate = cell(str(claim, "outcome")) +
               (opt_num(claim, "speedup") ? " " + fixed(opt_num(claim, "speedup"), 3) + "x" : "") +
               (flag(claim, "faster") ? " faster" : "");
      const std::string state = record_state(r);
      md << "| " << name(at(r, "id")) << " | " << integer(r, "round") << " | "
         << (integer(r, "parent") ? name(at(r, "parent")) : "-") << " | " << cell(str(r, "strategy"), 60) << " | "
         << cell(state) << " | " << cell(str(r, "check")) << " | " << fixed(opt_num(r, "median_ms"), 4) << " | "
         << (opt_num(r, "speedup") ? fixed(opt_num(r, "speedup"), 3) + "x" : "-") << " | " << gate << " | "
         << cell(state == "correct" ? str(r, "timing_error") : str(r, "reason")) << " |\n";
    }
  md << "\n";
}

}  // namespace

std::string render_markdown(const nlohmann::json& doc) {
  std::ostringstream md;
  md << "# kopt report\n\n";
  const auto& runs = at(doc, "runs");
  if (const auto& s = at(doc, "suite"); s.is_object()) {
    const auto& fp = at(s, "fast_p");
    md << "## Suite\n\n"
       << fmt::format("Geometric-mean speedup {}; fast_1.0 {}, fast_1.5 {}, fast_2.0 {}.",
                      opt_num(s, "geomean_speedup") ? fixed(opt_num(s, "geomean_speedup"), 3) + "x" : "-",
                      fixed(opt_num(fp, "1.0"), 2), fixed(opt_num(fp, "1.5"), 2), fixed(opt_num(fp, "2.0"), 2));
    if (opt_num(s, "geomean_ceiling"))
      md << fmt::format(" Ceiling (the most an implementation doing the reference's work in its arithmetic could gain over "
                        "the best baseline, from the speed-of-light bound; tensor-core schemes such as 3xTF32, or "
                        "skipped work, can pass it): geometric mean {}x over {} workload(s).",
                        fixed(opt_num(s, "geomean_ceiling"), 2), integer(s, "workloads_with_ceiling"));
    md << "\n\n| workload | status | baseline | speedup | ceiling | faster | candidates | outcomes |\n"
          "|---|---|---|---|---|---|---|---|\n";
    if (at(s, "workloads").is_array())
      for (const auto& w : at(s, "workloads")) {
        std::string counts;
        if (at(w, "counts").is_object())
          for (const auto& [k, v] : at(w, "counts").items()) counts += (counts.empty() ? "" : ", ") + cell(k) + " " + util::dump_json(v);
        md << "| " << cell(str(w, "name", core::workload_stem(str(w, "workload")))) << " | " << cell(str(w, "status")) << " | "
           << (flag(w, "baseline_ok") ? "ok" : "failed " + cell(str(w, "baseline_error"))) << " | "
           << (opt_num(w, "best_speedup") ? fixed(opt_num(w, "best_speedup"), 3) + "x" : "-") << " | "
           << (opt_num(w, "ceiling") ? fixed(opt_num(w, "ceiling"), 2) + "x" : "-") << " | "
           << (flag(w, "faster") ? "yes" : "no") << " | " << integer(w, "candidates") << " | "
           << (counts.empty() ? "-" : counts) << " |\n";
      }
    md << "\n";
  }
  if (runs.is_array())
    for (const auto& r : runs) run_md(md, r);
  return md.str();
}

}  // namespace kopt::report
