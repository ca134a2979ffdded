// The candidates of one run in the HTML report: a table (a row each, linking to the
// candidate's section) in a scrolling box, and one collapsed <details> section each, so
// a run of hundreds of candidates stays one readable page.
#include <fmt/format.h>

#include "fields.hpp"
#include "html_parts.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/report/report.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

std::string anchor(const std::string& run_key, long long id) {
  return "c-" + run_key + "-" + core::candidate_dir_name(static_cast<int>(id));
}

// Escaped text cut to `max` characters (whole text in the candidate's section).
std::string short_text(const std::string& text, size_t max) {
  std::string t = util::strip_control(text);
  for (auto& c : t)
    if (c == '\n' || c == '\t') c = ' ';
  if (t.size() > max) t = t.substr(0, max) + "…";
  return html_escape(t);
}

std::string gate_text(const nlohmann::json& claim) {
  if (!claim.is_object()) return "-";
  std::string out = html_escape(str(claim, "outcome"));
  if (const auto s = opt_num(claim, "speedup"))
    out += fmt::format(" {:.3f}x [{}, {}]{}", *s, fixed(opt_num(claim, "low"), 3), fixed(opt_num(claim, "high"), 3),
                       flag(claim, "faster") ? " faster" : "");
  return out;
}

std::string outcome_badge(const std::string& state) {
  return fmt::format("<span class=\"badge\" style=\"background:{}\">{}</span>", outcome_color(state), html_escape(state));
}

std::string kernels_table(const nlohmann::json& kernels) {
  if (!kernels.is_array() || kernels.empty()) return {};
  std::string out = "<table class=\"small\"><tr><th>kernel</th><th>µs per call</th><th>share</th></tr>\n";
  for (const auto& k : kernels)
    out += fmt::format("<tr><td class=\"code\">{}</td><td class=\"num\">{:.1f}</td><td class=\"num\">{:.1f}%</td></tr>\n",
                       short_text(str(k, "name"), 100), num(k, "us_per_call"), 100 * num(k, "share"));
  return out + "</table>\n";
}

std::string section(const nlohmann::json& r, const std::string& run_key) {
  const long long id = integer(r, "id");
  const std::string state = record_state(r);
  // The links' target is the section's body, not the <details> itself: a browser opens a
  // closed <details> to show a fragment inside it, never one that is the fragment.
  std::string out = fmt::format("<details class=\"cand\"><summary>{} {} {}", core::candidate_dir_name(static_cast<int>(id)),
                                outcome_badge(state), short_text(str(r, "strategy"), 80));
  if (const auto t = opt_num(r, "median_ms")) out += fmt::format(" · {:.4f} ms", *t);
  if (const auto s = opt_num(r, "speedup")) out += fmt::format(" · {:.3f}x", *s);
  out += fmt::format("</summary>\n<dl id=\"{}\">\n", anchor(run_key, id));
  auto row = [&](const char* key, const std::string& html) {
    if (!html.empty()) out += fmt::format("<dt>{}</dt><dd>{}</dd>\n", key, html);
  };
  row("round", std::to_string(integer(r, "round")));
  if (const long long p = integer(r, "parent"))
    row("parent", fmt::format("<a href=\"#{}\">{}</a>", anchor(run_key, p), core::candidate_dir_name(static_cast<int>(p))));
  row("origin", html_escape(util::strip_control(str(r, "origin"))));
  row("status", html_escape(str(r, "status")));
  row("deciding rule", html_escape(str(r, "check")));
  row("reason", html_escape(util::strip_control(str(r, "reason"))));
  row("rule's figures", html_escape(util::strip_control(str(r, "rule_detail"))));
  if (const auto t = opt_num(r, "median_ms"))
    row("ranking time", fmt::format("median {:.4f} ms, IQR {} ms", *t, fixed(opt_num(r, "iqr_ms"), 4)));
  row("timing", html_escape(util::strip_control(str(r, "timing_error"))));
  if (at(r, "claim").is_object()) row("final gate", gate_text(at(r, "claim")));
  if (num(r, "verify_s") > 0) row("evaluation", html_escape(util::format_seconds(num(r, "verify_s"))));
  const auto& tokens = at(r, "tokens");
  if (integer(tokens, "input") + integer(tokens, "output") > 0)
    row("tokens", fmt::format("{} in, {} out{}, ${:.4f}", integer(tokens, "input"), integer(tokens, "output"),
                              flag(tokens, "estimated") ? " (estimated)" : "", num(r, "cost_usd")));
  out += "</dl>\n" + kernels_table(at(r, "kernels"));
  if (const auto log = str(r, "log_excerpt"); !log.empty())
    out += "<p class=\"label\">log (last lines)</p><pre>" + html_escape(util::strip_control(log)) + "</pre>\n";
  if (const auto src = str(r, "source"); !src.empty())
    out += std::string("<p class=\"label\">candidate.py") + (flag(r, "source_truncated") ? " (first 24 KiB)" : "") +
           "</p><pre class=\"src\">" + html_escape(util::strip_control(src)) + "</pre>\n";
  return out + "</details>\n";
}

}  // namespace

std::string candidates_html(const nlohmann::json& run, const std::string& run_key) {
  const auto& records = at(run, "records");
  if (!records.is_array() || records.empty()) return "<p class=\"note\">No candidate yet.</p>\n";
  std::string out =
      "<div class=\"scroll\"><table class=\"cands\"><thead><tr><th>id</th><th>round</th><th>parent</th><th>strategy</th>"
      "<th>outcome</th><th>rule</th><th>reason</th><th>ms</th><th>speedup</th><th>final gate</th></tr></thead><tbody>\n";
  for (const auto& r : records) {
    const long long id = integer(r, "id"), parent = integer(r, "parent");
    const std::string state = record_state(r);
    const std::string why = state == "correct" ? str(r, "timing_error") : str(r, "reason");
    out += fmt::format(
        "<tr><td><a href=\"#{}\">{}</a></td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class=\"why\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
        anchor(run_key, id), core::candidate_dir_name(static_cast<int>(id)), integer(r, "round"),
        parent ? fmt::format("<a href=\"#{}\">{}</a>", anchor(run_key, parent), core::candidate_dir_name(static_cast<int>(parent)))
               : std::string("-"),
        short_text(str(r, "strategy"), 40), outcome_badge(state), html_escape(str(r, "check")), short_text(why, 140),
        fixed(opt_num(r, "median_ms"), 4), opt_num(r, "speedup") ? fixed(opt_num(r, "speedup"), 3) + "x" : "-",
        gate_text(at(r, "claim")));
  }
  out += "</tbody></table></div>\n<h3>Each candidate</h3>\n";
  for (const auto& r : records) out += section(r, run_key);
  return out;
}

}  // namespace kopt::report
