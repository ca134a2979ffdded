#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kopt/providers/accounting.hpp"

namespace pv = kopt::providers;

namespace {
pv::PriceTable table() {
  return pv::PriceTable::parse(R"({"models": {"m": {"input_per_mtok": 2.0, "output_per_mtok": 10.0},
                                              "m-mini": {"input_per_mtok": 0.5, "output_per_mtok": 1.0}}})")
      .value();
}
pv::Usage usage(long long in, long long out) { return {in, out, true}; }
}  // namespace

TEST(price_table, matches_exact_names_then_the_longest_prefix) {
  const auto t = table();
  EXPECT_DOUBLE_EQ(t.find("m")->input_per_mtok, 2.0);
  EXPECT_DOUBLE_EQ(t.find("m-mini-2025")->input_per_mtok, 0.5);
  EXPECT_DOUBLE_EQ(t.find("m-2025")->input_per_mtok, 2.0);
  EXPECT_FALSE(t.find("other").has_value());
}

TEST(price_table, computes_cost_per_million_tokens) {
  EXPECT_DOUBLE_EQ(table().cost("m", usage(1'000'000, 100'000)).value(), 2.0 + 1.0);
  EXPECT_FALSE(table().cost("unknown", usage(10, 10)).has_value());
}

TEST(price_table, the_builtin_table_parses_and_knows_the_common_models) {
  const auto t = pv::PriceTable::builtin();
  for (const char* model : {"gpt-4o", "gpt-4o-mini-2024-07-18", "claude-sonnet-4-20250514", "o3"})
    EXPECT_TRUE(t.find(model).has_value()) << model;
  EXPECT_LT(t.find("gpt-4o-mini")->input_per_mtok, t.find("gpt-4o")->input_per_mtok);
}

TEST(price_table, rejects_malformed_files_with_a_reason) {
  EXPECT_EQ(pv::PriceTable::parse("not json").failure().kind, "prices");
  EXPECT_EQ(pv::PriceTable::parse("{}").failure().kind, "prices");
  auto bad = pv::PriceTable::parse(R"({"models": {"x": {"input_per_mtok": "cheap"}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.failure().message.find("\"x\""), std::string::npos);
  EXPECT_FALSE(pv::PriceTable::parse(R"({"models": {"x": {"input_per_mtok": -1, "output_per_mtok": 1}}})").ok());
  EXPECT_EQ(pv::PriceTable::load("/nonexistent/prices.json").failure().kind, "io");
}

TEST(price_table, loads_an_override_file) {
  const auto path = std::filesystem::temp_directory_path() / ("kopt-prices-" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << R"({"models": {"local": {"input_per_mtok": 0, "output_per_mtok": 0}}})";
  auto t = pv::PriceTable::load(path.string());
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->cost("local", usage(5, 5)).value(), 0.0);
  std::filesystem::remove(path);
}

TEST(budget, totals_tokens_and_cost_over_requests) {
  pv::Budget b({}, table(), "m");
  auto r = b.try_reserve(100, 1000);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(b.settle(*r, usage(500'000, 0)).value(), 1.0);
  r = b.try_reserve(100, 1000);
  EXPECT_DOUBLE_EQ(b.settle(*r, usage(0, 100'000)).value(), 1.0);
  EXPECT_EQ(b.input_tokens(), 500'000);
  EXPECT_EQ(b.output_tokens(), 100'000);
  EXPECT_DOUBLE_EQ(b.cost_usd(), 2.0);
  EXPECT_TRUE(b.cost_known());
  EXPECT_FALSE(b.exhausted());
}

TEST(budget, says_when_a_cost_limit_cannot_hold_for_an_unpriced_model) {
  EXPECT_EQ(pv::Budget({std::nullopt, 1.0}, table(), "m").unpriced_cost_limit(), "") << "priced";
  EXPECT_EQ(pv::Budget({}, table(), "unknown").unpriced_cost_limit(), "") << "no cost limit";
  EXPECT_EQ(pv::Budget({std::nullopt, 1.0}, table(), "unknown").unpriced_cost_limit(),
            "No price for model \"unknown\": --max-cost cannot limit it.");
}

TEST(budget, a_token_limit_stops_new_requests_once_reached) {
  pv::Budget b({1000, std::nullopt}, table(), "m");
  auto r = b.try_reserve(100, 300);
  ASSERT_TRUE(r.has_value());
  (void)b.settle(*r, usage(400, 600));
  EXPECT_TRUE(b.exhausted());
  EXPECT_FALSE(b.try_reserve(1, 10).has_value());
  EXPECT_NE(b.exhausted_reason().find("token budget"), std::string::npos);
}

TEST(budget, counts_the_worst_case_of_requests_in_flight) {
  pv::Budget b({1000, std::nullopt}, table(), "m");
  auto first = b.try_reserve(100, 600);  // 700 reserved
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(b.try_reserve(200, 600).has_value());    // 700 + 200 prompt fits
  EXPECT_FALSE(b.try_reserve(200, 600).has_value());   // 1400 + 200 does not
  EXPECT_NE(b.exhausted_reason().find("reserved"), std::string::npos);
  (void)b.settle(*first, usage(100, 50));              // 150 used, 800 still reserved
  EXPECT_FALSE(b.try_reserve(100, 600).has_value());   // 150 + 800 + 100 > 1000
  EXPECT_TRUE(b.try_reserve(40, 600).has_value());     // 150 + 800 + 40 fits
}

TEST(budget, what_earlier_sessions_spent_counts_against_the_limits) {
  pv::Budget b({1000, 1.0}, table(), "m");
  b.add_earlier(600, 300, 0.25);
  EXPECT_EQ(b.input_tokens(), 600);
  EXPECT_EQ(b.output_tokens(), 300);
  EXPECT_DOUBLE_EQ(b.cost_usd(), 0.25);
  EXPECT_FALSE(b.exhausted());
  EXPECT_FALSE(b.try_reserve(200, 10).has_value());  // 900 spent + 200 > 1000
  EXPECT_TRUE(b.try_reserve(50, 10).has_value());
  b.add_earlier(100, 0, 0);
  EXPECT_TRUE(b.exhausted());
  b.add_earlier(-5, -5, -1.0);  // a damaged record adds nothing
  EXPECT_EQ(b.input_tokens(), 700);
  EXPECT_DOUBLE_EQ(b.cost_usd(), 0.25);
}

TEST(budget, a_cost_limit_stops_new_requests_once_reached) {
  pv::Budget b({std::nullopt, 1.0}, table(), "m");
  auto r = b.try_reserve(10, 10);
  ASSERT_TRUE(r.has_value());
  (void)b.settle(*r, usage(0, 100'000));  // $1.00
  EXPECT_TRUE(b.exhausted());
  EXPECT_FALSE(b.try_reserve(10, 10).has_value());
  EXPECT_NE(b.exhausted_reason().find("cost budget"), std::string::npos);
}

TEST(budget, an_unknown_price_leaves_the_cost_unknown_and_the_cost_limit_inert) {
  pv::Budget b({std::nullopt, 0.01}, table(), "unpriced-model");
  auto r = b.try_reserve(10'000'000, 10);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(b.settle(*r, usage(10'000'000, 10)).has_value());
  EXPECT_FALSE(b.cost_known());
  EXPECT_FALSE(b.exhausted());
}

TEST(estimate_tokens, is_about_four_characters_a_token) {
  EXPECT_EQ(pv::estimate_tokens(std::string(400, 'a')), 101);
  EXPECT_EQ(pv::estimate_tokens(""), 1);
}
