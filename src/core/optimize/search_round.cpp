// One round's exchange with the generator: the request (what kopt measured and what the
// run tried, as the prompts need it), the replies to requests still pending, and the
// proposals turned into candidate records.
#include <spdlog/spdlog.h>

#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "search.hpp"

namespace kopt::core {

using util::json_field;

RoundRequest SearchRun::round_request(int round, int count) {
  RoundRequest req;
  req.round = round;
  req.count = count;
  req.first_id = m_state.next_id();
  req.workload_name = m_state.header.value("workload_name", "workload.py");
  req.workload_source = m_source;
  req.device = m_opt.device;
  req.precision = m_opt.precision;
  req.compile_available = m_compile_available;
  const auto& b = json_field(m_state.header, "baseline");
  req.target_text = target_summary(json_field(b, "device"));
  req.baseline_text = m_baseline_text.empty() ? "Not measured." : baseline_without_kernels(m_baseline_text);
  req.top_kernels_text =
      profile_table(json_field(b, "profile"), "the reference (eager)");
  if (req.top_kernels_text.empty()) req.top_kernels_text = "Not profiled.";
  if (json_field(b, "ncu").is_object() && json_field(b, "ncu").value("ok", false))
    req.top_kernels_text += "\n\nNsight Compute, eager reference, per call (% of the device's peak):\n" +
                            json_field(b, "ncu").value("text", std::string());
  for (const auto& [id, r] : m_state.candidates) {
    if (r.status != "done") continue;
    const std::string dir = m_state.dir + "/candidates/" + candidate_dir_name(id);
    CandidateView view{r, read_text(dir + "/candidate.py").value_or(""),
                       util::tail_lines(read_text(dir + "/log").value_or(""), 30)};
    req.history.push_back(std::move(view));
  }
  req.facts = workload_facts(b.value("profile", nlohmann::json()), b.value("sol", nlohmann::json()), m_opt.device);
  for (const auto& [id, r] : m_state.candidates) {
    // A request that failed (provider_error) never reached the writer: the idea is untried.
    const std::string idea = idea_of(r.strategy, r.origin);  // a builtin seed tried its idea too
    if (idea.empty() || r.outcome == "provider_error") continue;
    auto& how = req.idea_history[idea];
    // An idea worked when a candidate from it was correct and faster than the best baseline
    // (the gate's verdict where there is one); one working candidate is enough.
    const bool faster = r.claim.is_object() ? r.claim.value("faster", false) : r.speedup && *r.speedup > 1.0;
    const std::string now = r.status != "done" ? "in_flight" : r.outcome == "correct" && faster ? "worked" : "failed";
    if (how.empty() || now == "worked" || (now == "in_flight" && how == "failed")) how = now;
  }
  auto ranked = ranked_correct();
  if (ranked.size() > 3) ranked.resize(3);
  req.best = ranked;
  req.hints = m_opt.hints;
  return req;
}

// Asks again for the requests still pending (a files provider's prompts without a reply,
// an HTTP request cut off by an interrupt) and returns the ids now queued. Only a resume
// has any: a round that leaves one pending ends the session (search_loop.cpp).
std::vector<int> SearchRun::take_pending_replies() {
  std::vector<PendingRequest> pending;
  for (const auto& [id, r] : m_state.candidates) {
    if (r.status != "pending") continue;
    const std::string dir = m_state.dir + "/candidates/" + candidate_dir_name(id);
    pending.push_back({id, read_text(dir + "/system.md").value_or(""), read_text(dir + "/prompt.md").value_or(""),
                       r.strategy, r.parent});
  }
  std::vector<int> queued;
  if (pending.empty()) return queued;
  auto replies = m_generator->reask(pending);
  std::vector<int> ids;
  for (const auto& p : pending) ids.push_back(p.id);
  add_proposals(std::move(replies), 0, true, ids);
  for (int id : ids)
    if (m_state.candidates[id].status == "queued") queued.push_back(id);
  return queued;
}

void SearchRun::add_proposals(std::vector<Proposal> proposals, int round, bool replace_ids, const std::vector<int>& ids) {
  std::lock_guard<std::mutex> lock(m_mutex);
  for (size_t i = 0; i < proposals.size(); ++i) {
    auto& p = proposals[i];
    CandidateRecord r;
    if (replace_ids) {
      if (i >= ids.size()) break;
      r = m_state.candidates[ids[i]];
    } else {
      r.id = m_state.next_id();
      r.round = round;
      r.strategy = p.strategy;
      r.origin = p.origin;
      r.parent = p.parent;
      r.proposed_at = now_epoch();
    }
    r.input_tokens += p.input_tokens;
    r.output_tokens += p.output_tokens;
    r.tokens_estimated = r.tokens_estimated || (p.tokens_estimated && (p.input_tokens || p.output_tokens));
    r.cost_usd += p.cost_usd;
    const std::string dir = m_state.dir + "/candidates/" + candidate_dir_name(r.id);
    (void)make_dirs(dir);
    const auto secrets = m_opt.secrets;
    if (!p.code.empty()) write_or_warn(dir + "/candidate.py", p.code);
    write_or_warn(dir + "/prompt.md", p.prompt.empty() ? "# " + p.origin + ": " + p.strategy + "\n"
                                                             : util::redact(p.prompt, secrets));
    if (!p.system.empty()) write_or_warn(dir + "/system.md", util::redact(p.system, secrets));
    if (!p.response.empty()) write_or_warn(dir + "/response.md", util::redact(p.response, secrets));
    if (p.status == "ok") {
      r.status = "queued";
      r.reason.clear();  // a reply came: "no reply yet" no longer holds (an interrupted evaluation kept it)
    } else if (p.status == "pending") {
      r.status = "pending";
      r.reason = p.message;
    } else {
      r.status = "done";
      r.outcome = p.status;
      r.reason = p.message;
    }
    if (Status saved = save_record(m_state.dir, r); !saved)
      spdlog::warn("Candidate record not saved. [reason: {}]", saved.failure().message);
    m_state.candidates[r.id] = r;
  }
  if (Status saved = save_run(m_state); !saved) spdlog::warn("run.json not saved. [reason: {}]", saved.failure().message);
}

}  // namespace kopt::core
