#pragma once
// Reports people read, regenerated from `kopt optimize` run directories at any time (in
// progress, waiting for replies, interrupted, finished): the report document (JSON,
// docs/report-schema.md) and its renderings as one self-contained HTML page and as
// Markdown. Reads only; never runs a candidate.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kopt/providers/files.hpp"
#include "kopt/util/result.hpp"

namespace kopt::report {

// The value of the document's "kopt_report" field (docs/report-schema.md says what changed).
inline constexpr int kReportVersion = 2;

// The document of one or more directories: each a run directory (run.json) or a suite
// directory (suite.json: each of its runs, in order). Several runs (a suite, merged
// shards) add "suite": a row per workload, geometric-mean speedup, fast_p, counts.
// Failure kinds "io" (no run there), "state" (a damaged run.json, record.json or
// suite.json): one line naming the file and the field.
Result<nlohmann::json> collect(const std::vector<std::string>& dirs);

// The prompts of the run in `run_dir` still waiting for a reply (files provider): those of
// providers::pending_prompts(INBOX) whose candidate is pending. INBOX is the run's --inbox,
// else RUN/inbox. Empty for other providers or an unreadable run.
std::vector<providers::PendingPrompt> waiting_prompts(const std::string& run_dir);
// [{"index", "path", "waited_s"}, ...]
nlohmann::json waiting_json(const std::vector<providers::PendingPrompt>& waiting);

// One self-contained HTML page (inline CSS and SVG, no script, no external reference) of
// a document from collect(). Every text that came from a run is HTML-escaped.
std::string render_html(const nlohmann::json& document);
// The same content as Markdown (tables; candidate text made safe for a table cell).
std::string render_markdown(const nlohmann::json& document);

// `text` with & < > " ' replaced by entities: safe in an element and in a quoted attribute.
std::string html_escape(std::string_view text);

// Writes render_html(collect(dirs)) to `path` atomically. Failure kinds as collect(), "io".
Status write_html(const std::vector<std::string>& dirs, const std::string& path);

}  // namespace kopt::report
