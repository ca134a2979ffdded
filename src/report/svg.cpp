// The report's two plots as inline SVG (no script, no fonts to fetch): the best speedup
// over candidates, and every candidate's time by round with failures marked by outcome.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "fields.hpp"
#include "html_parts.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/report/report.hpp"

namespace kopt::report {

namespace {

constexpr double kWidth = 720, kHeight = 260;
constexpr double kLeft = 64, kRight = 16, kTop = 16, kBottom = 40;

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double map(double v, double from, double to) const {
    double a = lo, b = hi, x = v;
    if (log) {
      a = std::log10(a);
      b = std::log10(b);
      x = std::log10(std::max(v, lo));
    }
    return b > a ? from + (x - a) / (b - a) * (to - from) : (from + to) / 2;
  }
};

std::string open_svg(const std::string& label) {
  return fmt::format(
      "<svg class=\"plot\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" role=\"img\" aria-label=\"{2}\" "
      "xmlns=\"http://www.w3.org/2000/svg\">\n<rect x=\"{3}\" y=\"{4}\" width=\"{5}\" height=\"{6}\" class=\"frame\"/>\n",
      kWidth, kHeight, html_escape(label), kLeft, kTop, kWidth - kLeft - kRight, kHeight - kTop - kBottom);
}

// Horizontal grid lines with labels at a few values of `y`.
std::string y_ticks(const Axis& y, const char* unit) {
  std::vector<double> ticks;
  if (y.log) {
    for (int e = static_cast<int>(std::floor(std::log10(y.lo))); e <= static_cast<int>(std::ceil(std::log10(y.hi))); ++e)
      for (double m : {1.0, 2.0, 5.0})
        if (const double v = m * std::pow(10.0, e); v >= y.lo && v <= y.hi) ticks.push_back(v);
  } else {
    for (int i = 0; i <= 4; ++i) ticks.push_back(y.lo + (y.hi - y.lo) * i / 4);
  }
  std::string out;
  for (double v : ticks) {
    const double py = y.map(v, kHeight - kBottom, kTop);
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/>"
                       "<text x=\"{}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{:.3g}{}</text>\n",
                       kLeft, kWidth - kRight, py, py, kLeft - 4, py + 4, v, unit);
  }
  return out;
}

std::string x_label(const std::string& text) {
  return fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n",
                     (kLeft + kWidth - kRight) / 2, kHeight - 6, html_escape(text));
}

std::string marker(double x, double y, const std::string& outcome, bool failed, const std::string& title) {
  const char* color = outcome_color(outcome);
  if (failed)  // a cross: no time, or wrong
    return fmt::format("<g class=\"m\"><title>{}</title><path d=\"M{:.1f} {:.1f}l6 6m0 -6l-6 6\" stroke=\"{}\" "
                       "stroke-width=\"2\"/></g>\n",
                       html_escape(title), x - 3, y - 3, color);
  return fmt::format("<g class=\"m\"><title>{}</title><circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"/></g>\n",
                     html_escape(title), x, y, color);
}

}  // namespace

std::string speedup_plot(const nlohmann::json& records) {
  std::vector<std::pair<int, double>> points;  // (position, speedup) of correct candidates
  for (size_t i = 0; i < records.size(); ++i)
    if (const auto s = opt_num(records[i], "speedup"); s && *s > 0) points.push_back({static_cast<int>(i), *s});
  if (points.empty()) return "<p class=\"note\">No candidate has a ranking speedup yet (no correct candidate, or no baseline timing).</p>\n";
  Axis y;
  y.lo = 1.0;
  y.hi = 1.0;
  for (const auto& [i, s] : points) {
    y.lo = std::min(y.lo, s);
    y.hi = std::max(y.hi, s);
  }
  y.lo *= 0.9;
  y.hi *= 1.1;
  const double n = std::max<double>(1, static_cast<double>(records.size()) - 1);
  auto px = [&](double i) { return kLeft + 8 + i / n * (kWidth - kLeft - kRight - 16); };
  std::string out = open_svg("best speedup over candidates");
  out += y_ticks(y, "x");
  const double one = y.map(1.0, kHeight - kBottom, kTop);
  out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" class=\"base\"/>\n", kLeft, kWidth - kRight, one, one);
  std::string path;
  double best = 0;
  size_t next = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (next < points.size() && points[next].first == static_cast<int>(i)) best = std::max(best, points[next++].second);
    if (best <= 0) continue;
    const double py = y.map(best, kHeight - kBottom, kTop), x = px(static_cast<double>(i));
    // A step: along at the previous best, then up to the new one.
    path += path.empty() ? fmt::format("M{:.1f} {:.1f}", x, py) : fmt::format(" H{:.1f} V{:.1f}", x, py);
  }
  out += "<path d=\"" + path + "\" class=\"best\"/>\n";
  for (const auto& [i, s] : points) {
    const auto& r = records[static_cast<size_t>(i)];
    out += marker(px(i), y.map(s, kHeight - kBottom, kTop), "correct", false,
                  fmt::format("{} {}: {:.3f}x", core::candidate_dir_name(static_cast<int>(integer(r, "id"))), str(r, "strategy"), s));
  }
  out += x_label(fmt::format("candidates in order (1-{}); ranking speedup vs the best baseline; line: best so far; dashed: 1x", records.size()));
  return out + "</svg>\n";
}

std::string time_plot(const nlohmann::json& records, std::optional<double> baseline_ms) {
  int rounds = 1;
  Axis y;
  y.lo = 1e300;
  y.hi = 0;
  std::map<int, int> per_round, seen;
  for (const auto& r : records) {
    rounds = std::max(rounds, static_cast<int>(integer(r, "round", 1)));
    ++per_round[static_cast<int>(integer(r, "round", 1))];
    if (const auto t = opt_num(r, "median_ms"); t && *t > 0) {
      y.lo = std::min(y.lo, *t);
      y.hi = std::max(y.hi, *t);
    }
  }
  if (baseline_ms && *baseline_ms > 0) {
    y.lo = std::min(y.lo, *baseline_ms);
    y.hi = std::max(y.hi, *baseline_ms);
  }
  if (records.empty()) return "<p class=\"note\">No candidate yet.</p>\n";
  if (y.hi <= 0) {  // nothing timed: a band of failures only
    y.lo = 1;
    y.hi = 10;
  }
  y.log = y.hi / y.lo > 20;
  y.lo *= y.log ? 0.8 : 0.9;
  y.hi *= 1.1;
  if (!y.log) y.lo = std::max(0.0, y.lo - (y.hi - y.lo) * 0.1);
  const double band = kHeight - kBottom - 10;  // failures sit below the plot's lowest time
  const double plot_bottom = band - 12;
  const double slot = (kWidth - kLeft - kRight) / rounds;
  std::string out = open_svg("candidate time by round");
  out += y_ticks(y, "");
  for (int k = 1; k < rounds; ++k)
    out += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" class=\"grid\"/>\n", kLeft + k * slot, kTop,
                       kHeight - kBottom);
  if (rounds <= 40)
    for (int k = 0; k < rounds; ++k)
      out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n",
                         kLeft + (k + 0.5) * slot, kHeight - kBottom + 14, k + 1);
  if (baseline_ms && *baseline_ms > 0) {
    const double py = y.map(*baseline_ms, plot_bottom, kTop);
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" class=\"base\"><title>best baseline {:.4f} ms</title></line>\n",
                       kLeft, kWidth - kRight, py, py, *baseline_ms);
  }
  for (const auto& r : records) {
    const int round = static_cast<int>(integer(r, "round", 1));
    const int k = seen[round]++;
    const double px = kLeft + (round - 1) * slot + slot * (k + 1) / (per_round[round] + 1);
    const std::string state = record_state(r);
    const auto t = opt_num(r, "median_ms");
    std::string title = fmt::format("{} {}: {}", core::candidate_dir_name(static_cast<int>(integer(r, "id"))),
                                    str(r, "strategy"), state);
    if (t && *t > 0) title += fmt::format(", {:.4f} ms", *t);
    const bool failed = state != "correct";
    out += marker(px, t && *t > 0 ? y.map(*t, plot_bottom, kTop) : band, state, failed, title);
  }
  out += x_label("round (each mark a candidate; crosses along the bottom: failed or not timed, coloured by outcome)");
  return out + "</svg>\n";
}

}  // namespace kopt::report
