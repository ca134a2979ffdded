// The HTML report: one self-contained page (inline CSS and SVG; no script, no font, no
// image or style sheet from elsewhere) from the report document. Text that came from a
// run (workload paths, strategies, reasons, logs, sources, LLM replies) is untrusted:
// everything passes through html_escape.
#include <fmt/format.h>

#include "fields.hpp"
#include "html_parts.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/report/report.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#1b1f24;background:#fff}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #d0d7de;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.why{max-width:28em;overflow-wrap:anywhere}td.code,.code{font-family:ui-monospace,monospace;font-size:.85em}
table.small{font-size:.9em}.scroll{max-height:34em;overflow:auto;border:1px solid #d0d7de}.scroll table{margin:0}
.badge{color:#fff;border-radius:.6em;padding:0 .5em;font-size:.85em;white-space:nowrap}
.note{color:#57606a}.label{font-weight:600;margin:.6em 0 .2em}.verdict{font-size:1.1em;font-weight:600}
pre{background:#f6f8fa;padding:.5em;overflow:auto;max-height:30em;font-size:.85em;white-space:pre}
details.cand{border:1px solid #d0d7de;border-radius:4px;margin:.25em 0;padding:.2em .6em}details.cand[open]{background:#fcfcfd}
summary{cursor:pointer}dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em}dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere}
.side{display:flex;gap:1.5em;flex-wrap:wrap}.side>div{flex:1 1 24em}
svg.plot{max-width:100%;height:auto;background:#fff}svg .frame{fill:none;stroke:#d0d7de}svg .grid{stroke:#eaeef2}
svg .tick{font-size:11px;fill:#57606a}svg .base{stroke:#57606a;stroke-dasharray:5 4}svg .best{fill:none;stroke:#0969da;stroke-width:2}
.legend span{margin-right:1em;white-space:nowrap}
)";

std::string text(const nlohmann::json& j, const char* key) { return html_escape(util::strip_control(str(j, key))); }

std::string meta(const nlohmann::json& run) {
  const auto& d = at(run, "device_info");
  std::string device = text(run, "device");
  if (!str(d, "name").empty()) device += " (" + text(d, "name") + ")";
  if (at(d, "target").is_object()) device += ", target " + text(at(d, "target"), "name");
  std::string out = "<dl>\n";
  out += "<dt>workload</dt><dd class=\"code\">" + text(run, "workload") + "</dd>\n";
  out += "<dt>device</dt><dd>" + device + "</dd>\n";
  out += "<dt>status</dt><dd>" + text(run, "status") +
         (str(run, "stop_reason").empty() ? "" : " (" + text(run, "stop_reason") + ")") + "</dd>\n";
  out += fmt::format("<dt>candidates</dt><dd>{} ({} evaluated, {} pending, {} not evaluated) in {} round(s){}</dd>\n",
                     integer(run, "candidates"), integer(run, "evaluated"), integer(run, "pending"),
                     integer(run, "not_evaluated"), integer(run, "rounds"),
                     num(run, "elapsed_s") > 0 ? ", " + html_escape(util::format_seconds(num(run, "elapsed_s"))) : "");
  out += "<dt>run directory</dt><dd class=\"code\">" + text(run, "run_dir") + "</dd>\n</dl>\n";
  const auto& waiting = at(run, "waiting_prompts");
  if (waiting.is_array() && !waiting.empty()) {
    out += fmt::format("<p>Waiting for replies ({}): answer each with NNNN.reply.md beside it, then "
                       "<code>kopt optimize --resume</code>.</p><ul>\n", waiting.size());
    for (const auto& p : waiting)
      out += fmt::format("<li class=\"code\">{} (written {:.0f} s ago)</li>\n", text(p, "path"), num(p, "waited_s"));
    out += "</ul>\n";
  }
  const auto& unfinished = at(run, "unfinished");
  if (unfinished.is_array() && !unfinished.empty()) {
    out += "<p>Evaluations that did not finish:</p><ul>\n";
    for (const auto& u : unfinished) {
      std::string phases;
      if (at(u, "phases").is_array())
        for (const auto& p : at(u, "phases"))
          phases += (phases.empty() ? "" : ", ") + text(p, "name") + " " + html_escape(util::format_seconds(num(p, "seconds")));
      out += fmt::format("<li>{} {} ({}): {}</li>\n", text(u, "status"), core::candidate_dir_name(static_cast<int>(integer(u, "id"))),
                         text(u, "strategy"), phases.empty() ? "no phase finished" : phases);
    }
    out += "</ul>\n";
  }
  return out;
}

std::string baselines(const nlohmann::json& run) {
  std::string out = "<h3>Baselines</h3>\n<table><tr><th>baseline</th><th>median ms</th><th>Q1</th><th>Q3</th><th>IQR</th>"
                    "<th>min</th><th>batches</th><th>note</th></tr>\n";
  const auto& rows = at(run, "baseline_timing");
  if (rows.is_array())
    for (const auto& b : rows)
      out += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                         "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
                         text(b, "name"), fixed(opt_num(b, "median_ms"), 4), fixed(opt_num(b, "q1_ms"), 4),
                         fixed(opt_num(b, "q3_ms"), 4), fixed(opt_num(b, "iqr_ms"), 4), fixed(opt_num(b, "min_ms"), 4),
                         fixed(opt_num(b, "batches"), 0), text(b, "error"));
  out += "</table>\n";
  const auto& b = at(run, "baselines");
  if (!flag(b, "ok")) out += "<p class=\"note\">No baseline timing: " + text(b, "error") + "</p>\n";
  else out += "<p>Best baseline: " + text(b, "best") + " at " + fixed(opt_num(b, "best_ms"), 4) + " ms.</p>\n";
  if (const std::string room = core::headroom_text(at(run, "headroom")); !room.empty())
    out += "<p>Headroom: " + html_escape(util::strip_control(room)) + ".</p>\n";
  if (const std::string drift = core::baseline_drift_text(at(run, "baseline_drift")); !drift.empty())
    out += "<p class=\"note\">Baselines: " + html_escape(util::strip_control(drift)) + ".</p>\n";
  if (const std::string earlier = core::earlier_baselines_text(at(run, "earlier_baselines")); !earlier.empty())
    out += "<p class=\"note\">Baselines " + html_escape(earlier) + ".</p>\n";
  return out;
}

std::string best(const nlohmann::json& run, const std::string& key) {
  std::string out = "<h3>Result</h3>\n<p class=\"verdict\">" + text(run, "verdict") + "</p>\n";
  const auto& bp = at(run, "best_py");
  if (bp.is_object())
    out += str(bp, "source") == "candidate"
               ? fmt::format("<p>best.py is candidate {} (confirmed faster by the final gate).</p>\n",
                             core::candidate_dir_name(static_cast<int>(integer(bp, "id"))))
               : "<p>best.py is the baseline " + text(bp, "baseline") + " itself (no candidate was confirmed faster).</p>\n";
  const auto& b = at(run, "best");
  if (!b.is_object()) return out + "<p>No correct candidate.</p>\n";
  const long long id = integer(b, "id");
  out += fmt::format("<p>Fastest correct candidate: <a href=\"#c-{}-{}\">{}</a> ({}), ranking time {} ms", key,
                     core::candidate_dir_name(static_cast<int>(id)), core::candidate_dir_name(static_cast<int>(id)),
                     text(b, "strategy"), fixed(opt_num(b, "median_ms"), 4));
  if (const auto s = opt_num(b, "speedup")) {
    out += fmt::format(", {:.3f}x the best baseline", *s);
    out += flag(b, "confirmed")
               ? fmt::format(" (final gate: 95% interval {}–{}, {} ABAB pairs: {})", fixed(opt_num(b, "low"), 3),
                             fixed(opt_num(b, "high"), 3), integer(b, "pairs"), flag(b, "faster") ? "FASTER" : "not shown to be faster")
               : " (ranking only, " + html_escape(core::ranking_range_text(b)) + "not confirmed by the final gate)";
  }
  return out + ".</p>\n";
}

std::string legend(const nlohmann::json& run) {
  std::string out = "<p class=\"legend\">";
  if (at(run, "counts").is_object())
    for (const auto& [k, v] : at(run, "counts").items())
      out += fmt::format("<span><span class=\"badge\" style=\"background:{}\">{}</span> {}</span>", outcome_color(k),
                         html_escape(k), v.is_number() ? v.get<long long>() : 0);
  if (integer(run, "pending")) out += fmt::format("<span>pending {}</span>", integer(run, "pending"));
  if (integer(run, "not_evaluated")) out += fmt::format("<span>not evaluated {}</span>", integer(run, "not_evaluated"));
  return out + "</p>\n";
}

// Top kernels with their share of the call and, where a speed-of-light bound exists, their
// time as a multiple of the whole call's bound.
// `who`: whose time the bound's fraction measures ("the best baseline", "the candidate").
std::string kernel_column(const char* title, const nlohmann::json& profile, const nlohmann::json& sol, const char* who) {
  std::string out = fmt::format("<div><p class=\"label\">{}</p>\n", title);
  const auto& k = at(profile, "kernels");
  if (!k.is_array() || k.empty()) return out + "<p class=\"note\">no profile</p></div>\n";
  const double bound_us = num(sol, "seconds") * 1e6;
  if (bound_us > 0)
    out += fmt::format("<p>Speed-of-light bound {:.2f} µs ({}-bound); {} runs at {}% of it.</p>\n", bound_us,
                       text(sol, "bound"), who, fixed(opt_num(sol, "fraction_of_light") ? std::optional<double>(100 * num(sol, "fraction_of_light")) : std::nullopt, 1));
  out += std::string("<table class=\"small\"><tr><th>kernel</th><th>µs/call</th><th>share</th>") +
         (bound_us > 0 ? "<th>× bound</th>" : "") + "</tr>\n";
  for (size_t i = 0; i < k.size() && i < 8; ++i) {
    out += fmt::format("<tr><td class=\"code\">{}</td><td class=\"num\">{:.1f}</td><td class=\"num\">{:.1f}%</td>",
                       text(k[i], "name"), num(k[i], "us_per_call"), 100 * num(k[i], "share"));
    if (bound_us > 0) out += fmt::format("<td class=\"num\">{:.2f}</td>", num(k[i], "us_per_call") / bound_us);
    out += "</tr>\n";
  }
  return out + "</table></div>\n";
}

std::string gpu_state(const nlohmann::json& run) {
  const auto& g = at(at(run, "best_detail"), "gpu");
  if (!g.is_object()) return "<p class=\"note\">No candidate was timed.</p>\n";
  if (str(run, "device") != "cuda") return "<p class=\"note\">Timed on the CPU: no GPU state.</p>\n";
  std::string out = "<p>NVML: " + text(g, "nvml") + (str(g, "driver").empty() ? "" : ", driver " + text(g, "driver")) +
                    fmt::format("; batches voided by throttling: {}.</p>\n", integer(g, "voided_batches"));
  const auto& samples = at(g, "samples");
  if (!samples.is_array() || samples.empty()) return out;
  out += "<table class=\"small\"><tr><th>batch</th><th>when</th><th>SM MHz</th><th>memory MHz</th><th>°C</th><th>W</th>"
         "<th>throttle</th><th>other processes</th></tr>\n";
  for (size_t i = 0; i < samples.size(); ++i)
    for (const char* when : {"before", "after"}) {
      const auto& s = at(samples[i], when);
      if (!s.is_object()) continue;
      out += fmt::format("<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                         "<td class=\"num\">{}</td><td class=\"num\">{:.0f}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
                         i + 1, when, integer(s, "sm_clock_mhz"), integer(s, "mem_clock_mhz"), integer(s, "temperature_c"),
                         num(s, "power_mw") / 1000, text(s, "throttle"),
                         at(s, "processes").is_array() ? at(s, "processes").size() : 0);
    }
  return out + "</table>\n";
}

std::string tokens_and_versions(const nlohmann::json& run) {
  const auto& t = at(run, "tokens");
  const auto& p = at(run, "provider");
  std::string out = "<h3>Tokens and cost</h3>\n<p>Provider " + text(p, "kind") +
                    (str(p, "model").empty() ? "" : " (" + text(p, "model") + ")") +
                    fmt::format(": {} tokens in, {} out{}; cost ${:.4f}.</p>\n", integer(t, "input"), integer(t, "output"),
                                flag(t, "estimated") ? " (estimated from the text)" : "", num(run, "cost_usd"));
  const auto& v = at(run, "versions");
  out += "<h3>Versions</h3>\n<p>";
  for (const char* k : {"kopt", "python", "torch", "cuda", "driver"})
    out += fmt::format("{} <span class=\"code\">{}</span>; ", k, str(v, k).empty() ? "-" : text(v, k));
  return out + "</p>\n";
}

std::string run_section(const nlohmann::json& run, const std::string& key) {
  std::string name = str(run, "workload_name");
  if (name.empty()) name = str(run, "workload");
  std::string out = fmt::format("<section id=\"run-{}\">\n<h2>{}</h2>\n", key, html_escape(util::strip_control(name)));
  if (str(run, "status") == "not_started") return out + "<p>Not started.</p>\n</section>\n";
  out += meta(run) + baselines(run) + best(run, key);
  out += "<h3>Best speedup over candidates</h3>\n" + speedup_plot(at(run, "records"));
  out += "<h3>Candidate time by round</h3>\n" + legend(run) +
         time_plot(at(run, "records"), opt_num(at(run, "baselines"), "best_ms"));
  out += "<h3>Candidates</h3>\n" + candidates_html(run, key);
  out += "<h3>Where the time goes</h3>\n<div class=\"side\">\n" +
         kernel_column("reference (eager)", at(run, "reference_profile"), at(run, "reference_sol"),
                       "the best baseline");
  const auto& bd = at(run, "best_detail");
  out += kernel_column(bd.is_object() ? ("best candidate " + core::candidate_dir_name(static_cast<int>(integer(bd, "id")))).c_str()
                                      : "best candidate",
                       at(bd, "profile"), at(bd, "sol"), "the candidate");
  out += "</div>\n<h3>GPU during timing</h3>\n" + gpu_state(run) + tokens_and_versions(run);
  return out + "</section>\n";
}

}  // namespace

std::string html_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  return out;
}

std::string fixed(const std::optional<double>& x, int digits) { return x ? fmt::format("{:.{}f}", *x, digits) : "-"; }

const char* outcome_color(const std::string& o) {
  if (o == "correct") return "#1a7f37";
  if (o == "wrong_result") return "#cf222e";
  if (o == "compile_error") return "#bc4c00";
  if (o == "crashed") return "#8250df";
  if (o == "timed_out") return "#9a6700";
  if (o == "tampered") return "#24292f";
  if (o == "provider_error" || o == "no_candidate") return "#0550ae";
  return "#6e7781";
}

std::string record_state(const nlohmann::json& r) {
  return str(r, "status") == "done" ? str(r, "outcome") : str(r, "status");
}

std::string render_html(const nlohmann::json& doc) {
  const auto& runs = at(doc, "runs");
  std::string title = "kopt report";
  if (runs.is_array() && runs.size() == 1) title += ": " + util::strip_control(str(runs[0], "workload_name"));
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
                    "img-src data:\">\n<title>" + html_escape(title) + "</title>\n<style>" + kStyle + "</style></head><body>\n";
  out += "<h1>" + html_escape(title) + "</h1>\n";
  if (at(doc, "suite").is_object()) out += suite_html(at(doc, "suite"), runs);
  if (runs.is_array())
    for (size_t i = 0; i < runs.size(); ++i) out += run_section(runs[i], "r" + std::to_string(i));
  out += fmt::format("<p class=\"note\">kopt_report {} · regenerate with <code>kopt report RUN_DIR --format html</code></p>\n",
                     integer(doc, "kopt_report"));
  return out + "</body></html>\n";
}

}  // namespace kopt::report
