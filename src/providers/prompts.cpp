#include "kopt/providers/prompts.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "kopt/util/text.hpp"

namespace kopt::embedded {
extern const std::string_view prompt_system_md;
extern const std::string_view prompt_first_attempt_md;
extern const std::string_view prompt_refine_md;
}  // namespace kopt::embedded

namespace kopt::providers {

namespace {

std::string or_default(const std::string& value, const char* fallback) { return value.empty() ? fallback : value; }

std::string hints_section(const std::vector<std::string>& hints) {
  if (hints.empty()) return "";
  std::string out = "## Guidance from the user\n\n";
  for (const auto& hint : hints) {
    std::string h = hint;
    while (!h.empty() && (h.back() == '\n' || h.back() == ' ')) h.pop_back();
    out += h + "\n\n";
  }
  return out;
}

// A short tag from kopt ("compile_error"), made safe for one heading line anyway.
std::string one_line(std::string text, size_t max_chars) {
  text = util::strip_control(text);
  for (auto& c : text)
    if (c == '\n' || c == '\t') c = ' ';
  return text.size() > max_chars ? text.substr(0, max_chars) : text;
}

}  // namespace

PromptSet builtin_prompts() {
  return {std::string(embedded::prompt_system_md), std::string(embedded::prompt_first_attempt_md),
          std::string(embedded::prompt_refine_md)};
}

Result<PromptSet> load_prompts(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Failure{"io", "no prompts directory " + dir};
  PromptSet set = builtin_prompts();
  const std::pair<const char*, std::string*> files[] = {
      {"system.md", &set.system}, {"first_attempt.md", &set.first_attempt}, {"refine.md", &set.refine}};
  for (const auto& [name, target] : files) {
    const std::string path = dir + "/" + name;
    if (stat(path.c_str(), &st) != 0) {
      spdlog::debug("Prompt template not overridden. [file: {}]", path);
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return Failure{"io", "cannot read " + path};
    std::ostringstream text;
    text << in.rdbuf();
    *target = text.str();
    spdlog::debug("Prompt template overridden. [file: {}]", path);
  }
  return set;
}

Result<std::string> system_prompt(const PromptSet& prompts) { return render(prompts.system, {}); }

Result<std::string> first_attempt_prompt(const PromptSet& prompts, const FirstAttemptFacts& facts) {
  return render(prompts.first_attempt,
                {{"workload_name", one_line(facts.workload_name, 200)},
                 {"workload_source", quote_untrusted(facts.workload_source, kMaxQuotedWorkload, "python")},
                 {"target", or_default(facts.target, "Not measured yet.")},
                 {"baseline", or_default(facts.baseline, "Not measured yet.")},
                 {"top_kernels", facts.top_kernels.empty() ? "Not profiled yet."
                                                          : quote_untrusted(facts.top_kernels, kMaxQuotedLog)},
                 {"hints", hints_section(facts.hints)}});
}

Result<std::string> refine_prompt(const PromptSet& prompts, const RefineFacts& facts) {
  return render(prompts.refine,
                {{"workload_name", one_line(facts.workload_name, 200)},
                 {"workload_source", quote_untrusted(facts.workload_source, kMaxQuotedWorkload, "python")},
                 {"target", or_default(facts.target, "Not measured yet.")},
                 {"previous_candidate", quote_untrusted(facts.previous_candidate, kMaxQuotedCandidate, "python")},
                 {"verdict", one_line(facts.verdict, 80)},
                 {"verdict_details", facts.verdict_details.empty() ? "No details."
                                                                  : quote_untrusted(facts.verdict_details, kMaxQuotedLog)},
                 {"timing", or_default(facts.timing, "Not timed.")},
                 {"profile", facts.profile.empty() ? "Not profiled." : quote_untrusted(facts.profile, kMaxQuotedLog)},
                 {"hints", hints_section(facts.hints)}});
}

}  // namespace kopt::providers
