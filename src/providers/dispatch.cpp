#include "kopt/providers/dispatch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace kopt::providers {

std::vector<Reply> dispatch(Provider& provider, const std::vector<Request>& requests,
                            const DispatchSettings& settings, Budget* budget, const Transcript* transcript) {
  std::vector<Reply> replies(requests.size());
  if (requests.empty()) return replies;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};  // set by an authentication failure
  std::mutex stop_mutex;
  std::string stop_reason;

  const auto skip = [&](size_t i, const std::string& why) {
    Reply& r = replies[i];
    r.index = requests[i].index;
    r.outcome = ReplyOutcome::skipped;
    r.message = why;
    r.attempts = 0;
  };

  const auto worker = [&] {
    while (true) {
      const size_t i = next.fetch_add(1);
      if (i >= requests.size()) return;
      const Request& request = requests[i];
      if (stop.load()) {
        std::lock_guard<std::mutex> lock(stop_mutex);
        skip(i, "not sent: " + stop_reason);
        continue;
      }
      std::optional<Budget::Reservation> reservation;
      if (budget) {
        reservation = budget->try_reserve(estimate_tokens(request.system) + estimate_tokens(request.user),
                                          settings.max_output_tokens);
        if (!reservation) {
          skip(i, "not sent: " + budget->exhausted_reason());
          spdlog::info("Request skipped. [index: {}, reason: {}]", request.index, budget->exhausted_reason());
          continue;
        }
      }
      Reply reply = provider.complete(request);
      reply.index = request.index;
      // A server that answered without sane counts (none, negative, huge) is counted from
      // the text, as the files provider is, so --max-tokens-total and --max-cost still hold.
      const bool answered = !reply.text.empty() || (reply.http_status >= 200 && reply.http_status < 300);
      if (!reply.usage.reported && !reply.usage.estimated && answered) {
        reply.usage.input_tokens = estimate_tokens(request.system) + estimate_tokens(request.user);
        reply.usage.output_tokens = estimate_tokens(reply.text);
        reply.usage.estimated = true;
      }
      if (budget) {
        const auto cost = budget->settle(*reservation, reply.usage);
        reply.cost_known = cost.has_value();
        reply.cost_usd = cost.value_or(0);
      }
      if (reply.outcome == ReplyOutcome::auth_failed) {
        std::lock_guard<std::mutex> lock(stop_mutex);
        if (!stop.exchange(true)) stop_reason = "request " + std::to_string(request.index) + " failed authentication";
      }
      if (transcript) {
        if (Status saved = transcript->save(reply, provider.name(), provider.model()); !saved)
          spdlog::warn("Transcript not saved. [index: {}, reason: {}]", request.index, saved.failure().message);
      }
      replies[i] = std::move(reply);
    }
  };

  const size_t threads = std::clamp<size_t>(static_cast<size_t>(std::max(settings.in_flight, 1)), 1, requests.size());
  if (threads <= 1) {
    worker();
    return replies;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  return replies;
}

}  // namespace kopt::providers
