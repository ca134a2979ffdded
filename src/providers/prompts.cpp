#include "kopt/providers/prompts.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "kopt/util/text.hpp"

namespace kopt::embedded {
extern const std::string_view prompt_system_md;
extern const std::string_view prompt_first_attempt_md;
extern const std::string_view prompt_refine_md;
extern const std::string_view prompt_ideas_json;
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

// kopt's suggestion, not the user's: a heading that says so.
std::string idea_section(std::string idea) {
  while (!idea.empty() && (idea.back() == '\n' || idea.back() == ' ')) idea.pop_back();
  return idea.empty() ? "" : "## kopt's suggestion (from the measurements above)\n\n" + idea + "\n\n";
}

// A short tag from kopt ("compile_error"), made safe for one heading line anyway.
std::string one_line(std::string text, size_t max_chars) {
  text = util::strip_control(text);
  for (auto& c : text)
    if (c == '\n' || c == '\t') c = ' ';
  return text.size() > max_chars ? text.substr(0, max_chars) : text;
}

}  // namespace

Result<std::vector<Idea>> parse_ideas(std::string_view text, const std::string& what) {
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return Failure{"usage", what + ": not valid JSON"};
  if (!doc.is_object() || !doc.contains("ideas") || !doc["ideas"].is_array())
    return Failure{"usage", what + ": field \"ideas\" must be an array"};
  std::vector<Idea> out;
  for (size_t i = 0; i < doc["ideas"].size(); ++i) {
    const auto& j = doc["ideas"][i];
    const std::string where = what + ": ideas[" + std::to_string(i) + "]";
    if (!j.is_object()) return Failure{"usage", where + " must be an object"};
    for (const char* key : {"id", "text"})
      if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
        return Failure{"usage", where + ": field \"" + key + "\" must be a non-empty string"};
    Idea idea;
    idea.id = j["id"].get<std::string>();
    idea.text = j["text"].get<std::string>();
    for (auto [key, list] : {std::pair<const char*, std::vector<std::string>*>{"classes", &idea.classes}, {"with", &idea.with}}) {
      if (!j.contains(key)) continue;
      const std::string bad = where + ": field \"" + key + "\" must be an array of strings";
      if (!j[key].is_array()) return Failure{"usage", bad};
      for (const auto& c : j[key]) {
        if (!c.is_string()) return Failure{"usage", bad};
        list->push_back(c.get<std::string>());
      }
    }
    if (j.contains("bound")) {
      idea.bound = j["bound"].is_string() ? j["bound"].get<std::string>() : "";
      if (idea.bound != "memory" && idea.bound != "compute" && idea.bound != "any")
        return Failure{"usage", where + ": field \"bound\" must be memory, compute or any"};
    }
    for (auto [key, value] : {std::pair<const char*, double*>{"below_light", &idea.below_light}, {"with_share", &idea.with_share}}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_number() || j[key].get<double>() <= 0 || j[key].get<double>() > 1)
        return Failure{"usage", where + ": field \"" + key + "\" must be a number in (0, 1]"};
      *value = j[key].get<double>();
    }
    if (j.contains("min_kernels")) {
      if (!j["min_kernels"].is_number() || j["min_kernels"].get<double>() < 0)
        return Failure{"usage", where + ": field \"min_kernels\" must be a number >= 0"};
      idea.min_kernels = j["min_kernels"].get<double>();
    }
    if (j.contains("favour")) {
      const auto& f = j["favour"];
      const std::string bad = where + ": field \"favour\" must be {\"classes\": [strings], \"share\": a number in (0, 1], "
                                      "\"launches\": a number >= 0}";
      if (!f.is_object() || !f.contains("classes") || !f["classes"].is_array() || !f.contains("share") ||
          !f["share"].is_number() || f["share"].get<double>() <= 0 || f["share"].get<double>() > 1 ||
          (f.contains("launches") && (!f["launches"].is_number() || f["launches"].get<double>() < 0)))
        return Failure{"usage", bad};
      for (const auto& c : f["classes"]) {
        if (!c.is_string()) return Failure{"usage", bad};
        idea.favour.push_back(c.get<std::string>());
      }
      idea.favour_share = f["share"].get<double>();
      idea.favour_launches = f.value("launches", 0.0);
    }
    for (auto [key, flag] : {std::pair<const char*, bool*>{"launch_overhead", &idea.launch_overhead}, {"cuda", &idea.cuda},
                                {"fp32_matmuls", &idea.fp32_matmuls}, {"below_copy", &idea.below_copy}}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_boolean()) return Failure{"usage", where + ": field \"" + key + "\" must be true or false"};
      *flag = j[key].get<bool>();
    }
    out.push_back(std::move(idea));
  }
  return out;
}

std::vector<Idea> extend_ideas(std::vector<Idea> base, const std::vector<Idea>& more) {
  for (const auto& idea : more) {
    auto it = std::find_if(base.begin(), base.end(), [&](const Idea& b) { return b.id == idea.id; });
    if (it != base.end()) *it = idea;
    else base.push_back(idea);
  }
  return base;
}

PromptSet builtin_prompts() {
  auto ideas = parse_ideas(embedded::prompt_ideas_json, "the embedded prompts/ideas.json");
  if (!ideas) throw std::logic_error(ideas.failure().message);
  return {std::string(embedded::prompt_system_md), std::string(embedded::prompt_first_attempt_md),
          std::string(embedded::prompt_refine_md), std::move(*ideas)};
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
  // A placeholder kopt has no value for would fail each prompt later, in the middle of a
  // run (kopt optimize renders refine.md only from round 2): refused here, before anything runs.
  const std::pair<const char*, Result<std::string>> rendered[] = {{"system.md", system_prompt(set)},
                                                                  {"first_attempt.md", first_attempt_prompt(set, {})},
                                                                  {"refine.md", refine_prompt(set, {})}};
  for (const auto& [name, text] : rendered)
    if (!text) return Failure{"usage", dir + "/" + name + ": " + text.failure().message};
  const std::string ideas_path = dir + "/ideas.json";
  if (stat(ideas_path.c_str(), &st) == 0) {
    std::ifstream in(ideas_path, std::ios::binary);
    if (!in) return Failure{"io", "cannot read " + ideas_path};
    std::ostringstream text;
    text << in.rdbuf();
    auto more = parse_ideas(text.str(), ideas_path);
    if (!more) return more.failure();
    set.ideas = extend_ideas(std::move(set.ideas), *more);
    spdlog::debug("Idea catalogue extended. [file: {}] [ideas: {}]", ideas_path, more->size());
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
                 {"hints", idea_section(facts.idea) + hints_section(facts.hints)}});
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
                 {"reference_profile", facts.reference_profile.empty()
                                           ? "Not profiled."
                                           : quote_untrusted(facts.reference_profile, kMaxQuotedLog)},
                 {"other_candidates", facts.other_candidates.empty()
                                          ? "None yet."
                                          : quote_untrusted(facts.other_candidates, kMaxQuotedLog)},
                 {"hints", hints_section(facts.hints)}});
}

}  // namespace kopt::providers
