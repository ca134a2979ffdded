#pragma once
// The writer's seat of `kopt optimize`: a Generator proposes candidate source files for a
// round, given what was learned so far. Three kinds: builtin (transformations valid for
// any workload, offline), replay (files from a folder or a recorded run) and llm (an
// LLM provider through the prompt templates). Measurement decides which helps.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kopt/core/ideas.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/providers/accounting.hpp"
#include "kopt/providers/prompts.hpp"
#include "kopt/providers/provider.hpp"
#include "kopt/util/result.hpp"

namespace kopt::core {

// What the loop knows about one finished candidate, as feedback for the next round.
struct CandidateView {
  CandidateRecord record;
  std::string code;      // the candidate's source (untrusted)
  std::string log_tail;  // last lines of its worker log (untrusted), for compile errors
};

struct RoundRequest {
  int round = 1;
  int count = 1;          // proposals wanted (a generator may give fewer)
  int first_id = 1;       // proposal i becomes candidate first_id + i (and request index)
  std::string workload_name;    // file name
  std::string workload_source;  // the workload file's text
  std::string device = "cpu";
  std::string precision = "fp32";
  std::optional<bool> compile_available;  // from the baseline; nullopt: unknown
  std::string target_text, baseline_text, top_kernels_text;  // for prompts
  std::vector<CandidateView> history;     // done candidates, by id
  std::vector<int> best;                  // ids of the best correct candidates, fastest first
  std::vector<std::string> hints;         // --hint / --hint-file
  int refine_from = 0;                    // a candidate picked by a person (--from)
  WorkloadFacts facts;                    // the reference's measured shape, for choosing ideas
  IdeaHistory idea_history;               // how each idea tried on this workload went
};

struct Proposal {
  // ok (code holds a candidate) | no_candidate (a reply without code) |
  // provider_error (the request failed) | pending (no reply yet: ask again later)
  std::string status = "ok";
  std::string code;
  std::string strategy;
  std::string origin;
  int parent = 0;
  std::string system, prompt, response;  // LLM exchanges (empty for builtin/replay)
  std::string message;                   // why, for a non-ok status
  long long input_tokens = 0, output_tokens = 0;
  bool tokens_estimated = false;         // counts estimated from the text (files), not reported
  double cost_usd = 0;
};

// A request still waiting for its reply, asked again on --resume.
struct PendingRequest {
  int id = 0;
  std::string system, prompt, strategy;
  int parent = 0;
};

class Generator {
 public:
  virtual ~Generator() = default;
  virtual std::string name() const = 0;
  // Learns what earlier sessions of this run proposed (resume), so nothing repeats.
  virtual void restore(const std::vector<CandidateRecord>& records) {}
  // Up to request.count proposals, in id order. Never throws for bad data.
  virtual std::vector<Proposal> propose(const RoundRequest& request) = 0;
  // Asks again for requests left pending (same id, system and prompt), in order.
  virtual std::vector<Proposal> reask(const std::vector<PendingRequest>& pending) { return {}; }
  // True when nothing new can be proposed (builtin: all strategies tried; replay: files used).
  virtual bool exhausted() const = 0;
  // Tokens and cost used so far in this session (0 for builtin/replay).
  virtual long long input_tokens() const { return 0; }
  virtual long long output_tokens() const { return 0; }
  virtual double cost_usd() const { return 0; }
  // True when some token count above is an estimate from the text (files provider).
  virtual bool tokens_estimated() const { return false; }
  // Why the generator stops asking (a budget), or empty.
  virtual std::string stop_reason() const { return ""; }
};

// Builtin strategies (no LLM, offline). The code embeds the workload's source.
std::unique_ptr<Generator> make_builtin_generator();
// The builtin strategies an LLM's run starts with for this request's workload and device
// (split-tf32 on CUDA at fp32 where the source calls matmuls and, where the reference was
// profiled, its matmul kernels took at least kSeedMatmulShare of its time), possibly none.
inline constexpr double kSeedMatmulShare = 0.8;
std::vector<std::string> seed_strategies(const RoundRequest& request);
// `inner` (an LLM generator) with seed_strategies() proposed first in the run's first round,
// origin "builtin-seed", each in one of the round's slots while the writer keeps one; a
// run that already has candidates (resume) gets none.
std::unique_ptr<Generator> make_seeded_generator(std::unique_ptr<Generator> inner);
// Candidates from `from`: a folder of *.py files (sorted by name), or a recorded run
// (its candidates/*/candidate.py). Failure kind "usage" when the folder has neither.
Result<std::unique_ptr<Generator>> make_replay_generator(const std::string& from);

struct LlmSettings {
  providers::PromptSet prompts;
  int in_flight = 4;
  long long max_output_tokens = 8192;
  std::string transcript_dir;  // where requests/NNNN.*.json are saved (the run directory)
  std::vector<std::string> secrets;
};
// An LLM provider behind the Generator interface: first-attempt and refine prompts,
// dispatch() under `budget`, the candidate extracted from each reply.
std::unique_ptr<Generator> make_llm_generator(std::unique_ptr<providers::Provider> provider,
                                              LlmSettings settings, providers::Budget* budget);

// The builtin strategy names in the order they are tried, for the device and workload
// (documentation and tests). `has_matmul`: the workload's source calls matmuls (nn.Linear,
// matmul, @, mm, bmm, addmm): split-tf32 is tried second on CUDA at fp32.
std::vector<std::string> builtin_strategy_names(const std::string& device, bool has_conv,
                                                const std::string& precision, bool compile_available,
                                                bool has_matmul = false);
// The source of one builtin candidate for `strategy` ("compile-max-autotune+channels-last").
// Failure kind "usage" for an unknown strategy.
Result<std::string> builtin_candidate_source(const std::string& strategy, const std::string& workload_name,
                                             const std::string& workload_source);

}  // namespace kopt::core
