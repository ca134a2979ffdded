#pragma once
// Prompt templates: plain files (prompts/system.md, first_attempt.md, refine.md)
// embedded at build time, overridable file by file with --prompts DIR. Templates use
// {{placeholder}}; substituted text is never scanned again, so data cannot inject one.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::providers {

// One idea for a first attempt (prompts/ideas.json) and when it applies.
struct Idea {
  std::string id;    // "tile-shared-memory": recorded as the candidate's strategy "idea:ID"
  std::string text;  // what the prompt says
  std::vector<std::string> classes;  // dominant kernel classes it fits; empty: any
  std::string bound = "any";         // "memory", "compute" or "any"
  bool launch_overhead = false;      // only when many short kernels dominate
  bool cuda = false;                 // only on a CUDA device
  std::vector<std::string> with;     // and one of these classes at with_share+ beside them; empty: none needed
  double below_light = 0;            // only while the best baseline runs below this fraction of its bound; 0: always
  double with_share = 0.15;          // the share a class of `with` needs
  // Ranked first where these classes together take favour_share of the time or more in
  // at least favour_launches kernels a call (several kernels worth fusing); empty: never.
  std::vector<std::string> favour;
  double favour_share = 0;
  double favour_launches = 0;
  // Only where the reference launches at least this many kernels a call: something for one
  // library call to take over (a forward that is already one library kernel, as
  // torch.softmax's, has nothing); 0: any.
  double min_kernels = 0;
  // Only where the reference's matmuls run in full fp32 (its profile's math settings:
  // torch.backends.cuda.matmul.allow_tf32 off, PyTorch's default): an idea that brings
  // fp32-accurate tensor-core products to FFMA matmuls.
  bool fp32_matmuls = false;
  // Only while the best baseline moves less than the baseline's copy test did (a memory
  // bound where a copy was timed): an idea that only makes the traffic faster has nothing to
  // gain where the baseline already moves what a plain copy moves, or more.
  bool below_copy = false;
};

struct PromptSet {
  std::string system;
  std::string first_attempt;
  std::string refine;
  std::vector<Idea> ideas;
};

// The templates and the idea catalogue embedded in the binary. Throws std::logic_error
// if the embedded ideas.json does not parse (a build bug; a test guards it).
PromptSet builtin_prompts();
// The builtin set with each of DIR/system.md, first_attempt.md, refine.md that exists
// replacing its builtin, and DIR/ideas.json extending the catalogue (an idea with a known
// id replaces it). Failure kind "io": DIR missing or a file unreadable; "usage": an
// ideas.json that is not a catalogue (names the file and the field).
Result<PromptSet> load_prompts(const std::string& dir);
// The ideas of one ideas.json text ({"ideas": [{"id", "text", "classes", "bound",
// "launch_overhead", "cuda"}]}). Failure kind "usage", naming `what` and the field.
Result<std::vector<Idea>> parse_ideas(std::string_view text, const std::string& what);
// `base` with `more` added; an idea of `more` with an id in `base` replaces it in place.
std::vector<Idea> extend_ideas(std::vector<Idea> base, const std::vector<Idea>& more);

// Replaces each {{name}} (letters, digits, '_') by values[name]. Failure kind
// "template" for a placeholder without a value (names it).
Result<std::string> render(std::string_view tmpl, const std::map<std::string, std::string>& values);

// `text` as quoted data for a prompt: control characters stripped, the middle cut
// (keeping head and tail, saying how much went) beyond `max_chars`, inside a fence longer
// than any backtick run in it, so it cannot close the fence and speak as instructions.
std::string quote_untrusted(std::string_view text, size_t max_chars, std::string_view language = "");

// Facts for the first attempt at a workload.
struct FirstAttemptFacts {
  std::string workload_name;    // file name, e.g. "linear_gelu.py"
  std::string workload_source;  // the user's file (trusted, quoted anyway)
  std::string target;           // GPU facts: name, SMs, memory, bandwidth, peaks
  std::string baseline;         // eager / torch.compile timings
  std::string top_kernels;      // the reference's top kernels from the profiler
  std::vector<std::string> hints;  // --hint / --hint-file text
  // kopt's own suggestion for this attempt (an idea from the catalogue, or "choose your
  // own"), in a section of its own ahead of the user's guidance, under {{hints}}.
  std::string idea;
};

// Facts for refining a previous candidate, from its verdict.
struct RefineFacts {
  std::string workload_name;
  std::string workload_source;
  std::string target;
  std::string previous_candidate;  // untrusted: quoted and truncated
  std::string verdict;             // "compile_error", "wrong_result", "correct", ...
  std::string verdict_details;     // error log / failed check and by how much (untrusted)
  std::string timing;              // candidate vs baselines
  std::string profile;             // candidate's top kernels (torch.profiler, --ncu), or why none (untrusted)
  std::string reference_profile;   // the reference's top kernels, to compare with
  std::string other_candidates;    // the other correct candidates: time and one-line summary (untrusted)
  std::vector<std::string> hints;
};

// Limits for untrusted text in prompts (characters).
inline constexpr size_t kMaxQuotedLog = 6'000;
inline constexpr size_t kMaxQuotedCandidate = 40'000;
inline constexpr size_t kMaxQuotedWorkload = 60'000;

// The rendered prompts. Failure kind "template" (a custom template with an unknown
// placeholder).
Result<std::string> system_prompt(const PromptSet& prompts);
Result<std::string> first_attempt_prompt(const PromptSet& prompts, const FirstAttemptFacts& facts);
Result<std::string> refine_prompt(const PromptSet& prompts, const RefineFacts& facts);

}  // namespace kopt::providers
