// The LLM generator's prompts, with a fake provider that records what it was asked.
#include <gtest/gtest.h>

#include <mutex>

#include "kopt/core/generator.hpp"

namespace pv = kopt::providers;
using kopt::core::CandidateView;
using kopt::core::RoundRequest;

namespace {

class RecordingProvider final : public pv::Provider {
 public:
  explicit RecordingProvider(std::vector<pv::Request>* asked) : m_asked(asked) {}
  pv::Reply complete(const pv::Request& request) override {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_asked->push_back(request);
    pv::Reply r;
    r.index = request.index;
    r.text = "```python\nclass ModelNew:\n    pass\n```\n";
    return r;
  }
  std::string name() const override { return "fake"; }
  std::string model() const override { return ""; }

 private:
  std::mutex m_mutex;
  std::vector<pv::Request>* m_asked;
};

CandidateView done(int id, const std::string& strategy, const std::string& outcome, std::optional<double> ms,
                   std::optional<double> speedup, const std::string& code) {
  CandidateView v;
  v.record.id = id;
  v.record.round = 1;
  v.record.status = "done";
  v.record.strategy = strategy;
  v.record.outcome = outcome;
  v.record.median_ms = ms;
  v.record.speedup = speedup;
  v.code = code;
  return v;
}

// Round 2 of a pooling workload: two correct candidates, one wrong.
RoundRequest round_two(int count) {
  RoundRequest req;
  req.round = 2;
  req.count = count;
  req.first_id = 4;
  req.workload_name = "avg_pool.py";
  req.workload_source = "class Model: pass\n";
  req.device = "cuda";
  req.baseline_text = "eager 0.5000 ms";
  req.top_kernels_text = "avg_pool1d_out_cuda_frame 480.0 us 97%";
  req.history = {
      done(1, "idea:direct-pooling", "correct", 0.4, 1.25,
           "\"\"\"Direct pooling kernel, one thread per output, windows read once.\"\"\"\nimport torch\n"),
      done(2, "idea:layout", "correct", 0.55, 0.91, "# Pooling over a channels_last copy.\nimport torch\n"),
      done(3, "idea:one-pass-memory", "wrong_result", std::nullopt, std::nullopt, "import torch\n")};
  req.history[2].record.reason = "max error 1.0";
  req.history[0].record.profile = {
      {"kernels", {{{"name", "my_pool_kernel"}, {"us_per_call", 412.0}, {"launches_per_call", 1.0}, {"share", 0.98}}}}};
  req.best = {1, 2};
  req.facts.cuda = true;
  req.facts.dominant_class = "pool";
  req.facts.class_share = {{"pool", 0.97}, {"elementwise", 0.03}};
  req.facts.bound = "memory";
  req.idea_history = {{"direct-pooling", "worked"}, {"layout", "failed"}, {"one-pass-memory", "failed"}};
  return req;
}

std::vector<pv::Request> ask(const RoundRequest& req, std::vector<kopt::core::Proposal>* proposals = nullptr) {
  std::vector<pv::Request> asked;
  kopt::core::LlmSettings settings;
  settings.prompts = pv::builtin_prompts();
  auto gen = kopt::core::make_llm_generator(std::make_unique<RecordingProvider>(&asked), settings, nullptr);
  auto p = gen->propose(req);
  if (proposals) *proposals = std::move(p);
  std::sort(asked.begin(), asked.end(), [](const pv::Request& a, const pv::Request& b) { return a.index < b.index; });
  return asked;
}

}  // namespace

TEST(refine_prompt_from_the_generator, shows_the_other_correct_candidates_with_times_and_summaries) {
  const auto asked = ask(round_two(1));
  ASSERT_EQ(asked.size(), 1u);
  const std::string& refine = asked[0].user;  // refines candidate 0001, the fastest
  ASSERT_NE(refine.find("Improve a previous candidate"), std::string::npos) << refine;
  const auto others = refine.find("other correct candidates");
  ASSERT_NE(others, std::string::npos) << refine;
  const std::string tail = refine.substr(others);
  EXPECT_NE(tail.find("candidate 0002 (idea:layout): 0.5500 ms per call, 0.910x the best baseline"), std::string::npos)
      << tail;
  EXPECT_NE(tail.find("Pooling over a channels_last copy."), std::string::npos) << tail;
  EXPECT_EQ(tail.find("candidate 0001"), std::string::npos) << "the refined candidate is not its own other";
  // What ran in it, from its profile: the quality run's candidates began with imports, so
  // their lines read "from idea:online-reduction" and nothing else.
  auto req = round_two(1);
  req.history[1].record.profile["kernels"] = {
      {{"name", "void softmax_rows_cluster_kernel<4>(float const*, float*, int)"}, {"share", 0.93}},
      {{"name", "void at::native::vectorized_elementwise_kernel<4, FillFunctor<float>>(int, FillFunctor<float>)"},
       {"share", 0.07}}};
  const auto asked2 = ask(req);
  ASSERT_EQ(asked2.size(), 1u);
  const std::string tail2 = asked2[0].user.substr(asked2[0].user.find("other correct candidates"));
  EXPECT_NE(tail2.find("channels_last copy. (its kernels: softmax_rows_cluster_kernel<4> 93%, "
                       "at::native::vectorized_elementwise_kernel<4, FillFunctor<... 7%)"),
            std::string::npos)
      << tail2;
  EXPECT_EQ(tail.find("candidate 0003"), std::string::npos) << "a wrong candidate is not one that worked";
}

TEST(refine_prompt_from_the_generator, puts_the_references_profile_next_to_the_candidates_and_says_when_it_has_none) {
  const auto asked = ask(round_two(1));
  ASSERT_EQ(asked.size(), 1u);
  const std::string& refine = asked[0].user;
  const auto cand = refine.find("Profile of the previous candidate");
  const auto ref = refine.find("Profile of the reference");
  ASSERT_NE(cand, std::string::npos);
  ASSERT_NE(ref, std::string::npos);
  EXPECT_LT(cand, ref);
  EXPECT_NE(refine.find("my_pool_kernel", cand), std::string::npos) << refine;
  EXPECT_LT(refine.find("my_pool_kernel", cand), ref) << "the candidate's kernels are in its own section";
  EXPECT_NE(refine.find("  412.00 us   98.0%  x1  my_pool_kernel"), std::string::npos) << refine;
  EXPECT_NE(refine.find("avg_pool1d_out_cuda_frame 480.0 us 97%", ref), std::string::npos) << refine;
}

TEST(refine_prompt_from_the_generator, says_how_far_the_candidate_is_from_the_speed_of_light) {
  auto req = round_two(1);
  // 0.4 ms for a memory-bound 1.6 GB at 4.8 TB/s (a bound of 0.3333 ms): 83.3% of it.
  req.history[0].record.profile["sol"] = {{"seconds", 1.6e9 / 4.8e12}, {"memory_seconds", 1.6e9 / 4.8e12},
                                          {"compute_seconds", 0.0}, {"bound", "memory"}, {"precision", "fp32"},
                                          {"bytes", 1.6e9}, {"flops", 0.0}, {"fraction_of_light", (1.6e9 / 4.8e12) / 4e-4},
                                          {"achieved_bandwidth_fraction", (1.6e9 / 4.8e12) / 4e-4}};
  auto asked = ask(req);
  ASSERT_EQ(asked.size(), 1u);
  const std::string& refine = asked[0].user;
  const auto cand = refine.find("Profile of the previous candidate");
  const auto line = refine.find("Speed of light: 0.3333 ms (memory-bound, fp32 peak); this candidate is at 83.3% of it.", cand);
  ASSERT_NE(line, std::string::npos) << refine;
  EXPECT_LT(line, refine.find("Profile of the reference"));
  EXPECT_NE(refine.find("Memory: 1.6 GB moved at 4.00 TB/s, 83.3% of the peak bandwidth.", line), std::string::npos) << refine;
  EXPECT_EQ(refine.find("Compute:", line), std::string::npos) << "no FLOP count, no compute figure";
  EXPECT_EQ(refine.find("A plain copy", line), std::string::npos) << "no copy test, no copy figure";
  // The refine prompt with one figure of the bound changed.
  auto refine_with = [&](const char* key, double value) {
    auto changed = req;
    changed.history[0].record.profile["sol"][key] = value;
    const auto prompts = ask(changed);
    EXPECT_EQ(prompts.size(), 1u);
    return prompts.empty() ? std::string() : prompts[0].user;
  };
  // With the baseline's copy test (4.4 TB/s, a figure for the test): the candidate's 4.0
  // TB/s against it.
  const std::string with_copy = refine_with("copy_bandwidth", 4.4e12);
  EXPECT_NE(with_copy.find("of the peak bandwidth. A plain copy on this GPU moves 4.40 TB/s: this candidate moves "
                           "90.9% of that."),
            std::string::npos)
      << with_copy;
  // A candidate faster than the bound's peak (3xTF32 matmuls against the fp32 FMA peak).
  const std::string beyond = refine_with("fraction_of_light", 1.5);
  EXPECT_NE(beyond.find("this candidate is at 150.0% of it (faster than that peak allows: it computes on other "
                        "units, e.g. tensor cores)."),
            std::string::npos)
      << beyond;
  // A damaged record (a figure of the wrong type) gives no line, not an exception.
  req.history[0].record.profile["sol"]["seconds"] = "soon";
  asked = ask(req);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].user.find("Speed of light: 0.3333"), std::string::npos);
  // Without a bound (no target, no byte count) the profile says nothing about it.
  req.history[0].record.profile.erase("sol");
  asked = ask(req);
  EXPECT_EQ(asked[0].user.find("Speed of light: 0.3333"), std::string::npos);
}

TEST(refine_prompt_from_the_generator, a_candidate_without_a_profile_says_why) {
  auto req = round_two(1);
  req.history[0].record.profile = {{"error", "profile: RuntimeError: CUPTI unavailable"}};
  auto asked = ask(req);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_NE(asked[0].user.find("Not profiled: profile: RuntimeError: CUPTI unavailable"), std::string::npos);
  req.history[0].record.profile = nullptr;
  req.history[0].record.median_ms.reset();
  asked = ask(req);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_NE(asked[0].user.find("Not profiled (the candidate was not timed)."), std::string::npos) << asked[0].user;
}

TEST(refine_prompt_from_the_generator, a_candidate_refined_with_no_other_correct_one_says_none_yet) {
  auto req = round_two(1);
  req.history.erase(req.history.begin() + 1);
  req.best = {1};
  const auto asked = ask(req);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_NE(asked[0].user.find("None yet."), std::string::npos) << asked[0].user;
}

TEST(first_attempts_from_the_generator, carry_an_idea_for_the_workload_that_has_not_failed) {
  std::vector<kopt::core::Proposal> proposals;
  const auto asked = ask(round_two(4), &proposals);  // 2 refines, the failure's refine, 1 first attempt
  ASSERT_EQ(proposals.size(), 4u);
  const auto catalogue = pv::builtin_prompts().ideas;
  int first_attempts = 0;
  for (size_t i = 0; i < proposals.size(); ++i) {
    if (proposals[i].strategy.rfind("idea:", 0) != 0) continue;
    ++first_attempts;
    const std::string id = proposals[i].strategy.substr(5);
    EXPECT_NE(id, "layout");
    EXPECT_NE(id, "one-pass-memory");
    EXPECT_NE(id, "tile-shared-memory");
    for (const auto& idea : catalogue) {
      if (idea.id == id) {
        EXPECT_NE(asked[i].user.find(idea.text), std::string::npos) << asked[i].user;
      }
    }
    EXPECT_NE(asked[i].user.find("97% pool kernels, memory-bound"), std::string::npos) << asked[i].user;
    // kopt's idea is kopt's suggestion, not the user's guidance (it read "Guidance from the
    // user" until the fourteenth session).
    EXPECT_NE(asked[i].user.find("## kopt's suggestion (from the measurements above)\n\nIdea to try"), std::string::npos)
        << asked[i].user;
    EXPECT_EQ(asked[i].user.find("Guidance from the user"), std::string::npos) << asked[i].user;
  }
  EXPECT_EQ(first_attempts, 1);
  // With a user's hint, both: kopt's suggestion first, then the user's words under theirs.
  auto req = round_two(4);
  req.hints = {"keep it in Triton"};
  const auto hinted = ask(req, &proposals);
  for (size_t i = 0; i < proposals.size(); ++i) {
    if (proposals[i].strategy.rfind("idea:", 0) != 0) continue;
    const auto idea = hinted[i].user.find("## kopt's suggestion");
    const auto user = hinted[i].user.find("## Guidance from the user\n\nkeep it in Triton");
    ASSERT_NE(idea, std::string::npos) << hinted[i].user;
    ASSERT_NE(user, std::string::npos) << hinted[i].user;
    EXPECT_LT(idea, user);
    EXPECT_EQ(hinted[i].user.find("Idea to try", user), std::string::npos) << "the idea is not under the user's heading";
  }
}

namespace {

// A server that quotes the key: in a candidate's code, and in an error message.
class QuotingProvider final : public pv::Provider {
 public:
  pv::Reply complete(const pv::Request& request) override {
    pv::Reply r;
    r.index = request.index;
    if (request.index % 2) {
      r.text = "```python\nKEY = 'sk-test-SECRET123456'\nclass ModelNew:\n    pass\n```\n";
    } else {
      r.outcome = pv::ReplyOutcome::auth_failed;
      r.message = "HTTP 401: Incorrect API key provided: sk-test-SECRET123456";
    }
    return r;
  }
  std::string name() const override { return "fake"; }
  std::string model() const override { return ""; }
};

}  // namespace

// A secret a reply quotes reaches neither the candidate's code (which runs and goes into
// later prompts) nor the record's reason: optimize stored both unredacted.
TEST(first_attempts_from_the_generator, a_secret_quoted_by_a_reply_is_redacted_before_it_is_a_candidate_or_a_reason) {
  kopt::core::LlmSettings settings;
  settings.prompts = pv::builtin_prompts();
  settings.secrets = {"sk-test-SECRET123456"};
  auto gen = kopt::core::make_llm_generator(std::make_unique<QuotingProvider>(), settings, nullptr);
  auto req = round_two(2);
  req.best.clear();
  req.first_id = 1;
  const auto proposals = gen->propose(req);
  ASSERT_EQ(proposals.size(), 2u);
  for (const auto& p : proposals) {
    for (const std::string* text : {&p.code, &p.response, &p.message})
      EXPECT_EQ(text->find("SECRET123456"), std::string::npos) << *text;
  }
  EXPECT_NE(proposals[0].code.find("[REDACTED]"), std::string::npos) << proposals[0].code;
  EXPECT_NE(proposals[1].message.find("[REDACTED]"), std::string::npos) << proposals[1].message;
}
