// dispatch(): several requests in flight, budgets, stopping after an auth failure. The
// provider here is a fake; the HTTP overlap is checked against the loopback server.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "kopt/providers/dispatch.hpp"
#include "support/http_server.hpp"
#include "unit/providers/test_env.hpp"

namespace pv = kopt::providers;
using Clock = std::chrono::steady_clock;

namespace {

// Answers after `delay`, reporting fixed usage; counts concurrency.
class FakeProvider : public pv::Provider {
 public:
  explicit FakeProvider(std::chrono::milliseconds delay, pv::ReplyOutcome outcome = pv::ReplyOutcome::ok)
      : m_delay(delay), m_outcome(outcome) {}
  pv::Reply complete(const pv::Request& request) override {
    const int now = ++m_active;
    int seen = m_max_active.load();
    while (now > seen && !m_max_active.compare_exchange_weak(seen, now)) {
    }
    ++m_calls;
    std::this_thread::sleep_for(m_delay);
    --m_active;
    pv::Reply r;
    r.index = request.index;
    r.outcome = m_outcome;
    r.text = "reply " + std::to_string(request.index);
    r.usage = {1000, 1000, true};
    return r;
  }
  std::string name() const override { return "fake"; }
  std::string model() const override { return "m"; }
  int max_active() const { return m_max_active; }
  int calls() const { return m_calls; }

 private:
  std::chrono::milliseconds m_delay;
  pv::ReplyOutcome m_outcome;
  std::atomic<int> m_active{0}, m_max_active{0}, m_calls{0};
};

std::vector<pv::Request> requests(int n) {
  std::vector<pv::Request> out;
  for (int i = 1; i <= n; ++i) out.push_back({i, "s", "u"});
  return out;
}

pv::PriceTable prices() {
  return pv::PriceTable::parse(R"({"models": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}})").value();
}

}  // namespace

TEST(dispatch, keeps_n_requests_in_flight_and_returns_replies_in_order) {
  FakeProvider fake(std::chrono::milliseconds(100));
  const auto start = Clock::now();
  const auto replies = pv::dispatch(fake, requests(8), {8, 100}, nullptr, nullptr);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(replies.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(replies[i].index, i + 1);
  EXPECT_EQ(fake.max_active(), 8);
  EXPECT_LT(elapsed, 0.5);  // 8 x 100 ms in sequence would take 0.8 s
}

TEST(dispatch, never_exceeds_the_in_flight_limit) {
  FakeProvider fake(std::chrono::milliseconds(20));
  (void)pv::dispatch(fake, requests(9), {3, 100}, nullptr, nullptr);
  EXPECT_EQ(fake.max_active(), 3);
  EXPECT_EQ(fake.calls(), 9);
}

TEST(dispatch, records_usage_and_cost_in_the_replies_and_the_budget) {
  FakeProvider fake(std::chrono::milliseconds(0));
  pv::Budget budget({}, prices(), "m");
  const auto replies = pv::dispatch(fake, requests(2), {1, 100}, &budget, nullptr);
  EXPECT_TRUE(replies[0].cost_known);
  EXPECT_DOUBLE_EQ(replies[0].cost_usd, 0.003);
  EXPECT_EQ(budget.input_tokens(), 2000);
  EXPECT_DOUBLE_EQ(budget.cost_usd(), 0.006);
}

TEST(dispatch, stops_cleanly_when_the_token_budget_runs_out) {
  FakeProvider fake(std::chrono::milliseconds(0));
  pv::Budget budget({4500, std::nullopt}, prices(), "m");  // each request uses 2000
  const auto replies = pv::dispatch(fake, requests(5), {1, 100}, &budget, nullptr);
  EXPECT_EQ(fake.calls(), 3);
  EXPECT_EQ(replies[2].outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(replies[3].outcome, pv::ReplyOutcome::skipped);
  EXPECT_NE(replies[3].message.find("token budget"), std::string::npos);
  EXPECT_TRUE(budget.exhausted());
}

TEST(dispatch, stops_cleanly_when_the_cost_budget_runs_out) {
  FakeProvider fake(std::chrono::milliseconds(0));
  pv::Budget budget({std::nullopt, 0.005}, prices(), "m");  // each request costs $0.003
  const auto replies = pv::dispatch(fake, requests(4), {1, 100}, &budget, nullptr);
  EXPECT_EQ(fake.calls(), 2);
  EXPECT_EQ(replies[2].outcome, pv::ReplyOutcome::skipped);
  EXPECT_NE(replies[2].message.find("cost budget"), std::string::npos);
}

TEST(dispatch, sends_nothing_more_after_an_authentication_failure) {
  FakeProvider fake(std::chrono::milliseconds(0), pv::ReplyOutcome::auth_failed);
  const auto replies = pv::dispatch(fake, requests(4), {1, 100}, nullptr, nullptr);
  EXPECT_EQ(fake.calls(), 1);
  EXPECT_EQ(replies[1].outcome, pv::ReplyOutcome::skipped);
  EXPECT_NE(replies[1].message.find("failed authentication"), std::string::npos);
}

TEST(dispatch, overlaps_real_http_requests_against_a_slow_server) {
  kopt::testing::HttpServer server;
  kopt::testing::ScriptedResponse slow{200, {}, kopt::testing::openai_body("x")};
  slow.delay = std::chrono::milliseconds(200);
  server.script({slow});
  auto provider = pv::make_provider(kopt::testing::fast_options("openai", server.base_url()), kopt::testing::test_env());
  ASSERT_TRUE(provider.ok());
  const auto start = Clock::now();
  const auto replies = pv::dispatch(**provider, requests(8), {8, 100}, nullptr, nullptr);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& r : replies) EXPECT_EQ(r.outcome, pv::ReplyOutcome::ok) << r.message;
  EXPECT_EQ(server.requests().size(), 8u);
  EXPECT_LT(elapsed, 0.8);  // in sequence: 1.6 s
}

TEST(dispatch, handles_an_empty_batch) {
  FakeProvider fake(std::chrono::milliseconds(0));
  EXPECT_TRUE(pv::dispatch(fake, {}, {4, 100}, nullptr, nullptr).empty());
}
