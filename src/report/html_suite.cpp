// The suite page's head: a row per workload (its best baseline, fastest candidate,
// speedup, what backs it, counts by outcome), the geometric-mean speedup, fast_p at
// p = 1.0, 1.5, 2.0 and the counts over all workloads.
#include <fmt/format.h>

#include "fields.hpp"
#include "html_parts.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/report/report.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

std::string counts_text(const nlohmann::json& counts) {
  std::string out;
  if (counts.is_object())
    for (const auto& [k, v] : counts.items())
      out += fmt::format("{}<span style=\"color:{}\">{}</span> {}", out.empty() ? "" : ", ", outcome_color(k),
                         html_escape(k), v.is_number() ? v.get<long long>() : 0);
  return out.empty() ? "-" : out;
}

}  // namespace

std::string suite_html(const nlohmann::json& suite, const nlohmann::json& runs) {
  const auto& rows = at(suite, "workloads");
  std::string out = fmt::format("<h2>Suite: {} workload(s)</h2>\n", rows.is_array() ? rows.size() : 0);
  const auto& fp = at(suite, "fast_p");
  out += fmt::format("<p class=\"verdict\">geometric-mean speedup {}; fast_1.0 {}, fast_1.5 {}, fast_2.0 {}</p>\n",
                     opt_num(suite, "geomean_speedup") ? fixed(opt_num(suite, "geomean_speedup"), 3) + "x" : "-",
                     fixed(opt_num(fp, "1.0"), 2), fixed(opt_num(fp, "1.5"), 2), fixed(opt_num(fp, "2.0"), 2));
  out += "<p class=\"note\">fast_p: the share of workloads whose best candidate the final gate called faster, "
         "its median above p × the best baseline (a ranking-only figure counts for no p). Geometric mean over the workloads with a speedup. "
         "Ceiling: the most an implementation doing the reference's work in its arithmetic could gain over the "
         "best baseline, from its distance to the speed-of-light bound (a compute bound at its peak's precision; "
         "tensor-core schemes such as 3xTF32, or skipped work, can pass it)";
  if (opt_num(suite, "geomean_ceiling"))
    out += fmt::format("; geometric mean {}x over {} workload(s)", fixed(opt_num(suite, "geomean_ceiling"), 2),
                       integer(suite, "workloads_with_ceiling"));
  out += ".</p>\n";
  out += "<div class=\"scroll\"><table><thead><tr><th>workload</th><th>status</th><th>best baseline</th>"
         "<th>fastest candidate</th><th>speedup</th><th>ceiling</th><th>backed by</th><th>candidates</th><th>outcomes</th>"
         "</tr></thead><tbody>\n";
  if (rows.is_array())
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& row = rows[i];
      const nlohmann::json& run = runs.is_array() && i < runs.size() ? runs[i] : row;
      const auto& b = at(run, "baselines");
      std::string baseline = flag(b, "ok") ? html_escape(util::strip_control(str(b, "best"))) + " " + fixed(opt_num(b, "best_ms"), 4) + " ms"
                                           : "<span style=\"color:#cf222e\">failed</span> " +
                                                 html_escape(util::strip_control(str(row, "baseline_error")));
      if (str(row, "status") == "not_started") baseline = "-";
      const auto& best = at(run, "best");
      std::string cand = "-", backed = best.is_object() ? "ranking only" : "no correct candidate";
      if (const std::string range = core::ranking_range_text(best); best.is_object() && !range.empty())
        backed = "ranking only (" + range.substr(0, range.size() - 2) + ")";  // without its "; "
      if (best.is_object()) {
        cand = fmt::format("<a href=\"#c-r{}-{}\">{}</a> {}", i, core::candidate_dir_name(static_cast<int>(integer(best, "id"))),
                           core::candidate_dir_name(static_cast<int>(integer(best, "id"))),
                           html_escape(util::strip_control(str(best, "strategy"))));
        if (flag(best, "confirmed"))
          backed = fmt::format("final gate 95% {}–{}{}", fixed(opt_num(best, "low"), 3), fixed(opt_num(best, "high"), 3),
                               flag(best, "faster") ? ": FASTER" : "");
      }
      std::string name = util::strip_control(str(row, "name", core::workload_stem(str(row, "workload"))));
      out += fmt::format("<tr><td><a href=\"#run-r{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>"
                         "<td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
                         i, html_escape(name), html_escape(str(row, "status")), baseline, cand,
                         opt_num(row, "best_speedup") ? fixed(opt_num(row, "best_speedup"), 3) + "x" : "-",
                         opt_num(row, "ceiling") ? fixed(opt_num(row, "ceiling"), 2) + "x" : "-", backed,
                         integer(row, "candidates"), counts_text(at(row, "counts")));
    }
  out += "</tbody></table></div>\n<p>All workloads: " + counts_text(at(suite, "counts")) + ".</p>\n";
  return out;
}

}  // namespace kopt::report
