#pragma once
// Token and cost accounting: a price table from one data file (prompts/prices.json,
// embedded; --prices FILE overrides) and budgets the search loop can query.
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "kopt/providers/provider.hpp"
#include "kopt/util/result.hpp"

namespace kopt::providers {

struct Price {
  double input_per_mtok = 0;   // USD per million input tokens
  double output_per_mtok = 0;  // USD per million output tokens
};

class PriceTable {
 public:
  // The embedded table (prompts/prices.json).
  static PriceTable builtin();
  // Parses {"models": {"NAME": {"input_per_mtok": X, "output_per_mtok": Y}, ...}}.
  // Failure kind "prices" with what is wrong.
  static Result<PriceTable> parse(const std::string& json_text);
  // Reads and parses FILE. Failure kinds "io", "prices".
  static Result<PriceTable> load(const std::string& path);

  // The price of `model`: an exact name, else the longest table name that prefixes it
  // ("gpt-4o-2024-08-06" uses "gpt-4o"). nullopt: unknown model (cost unknown).
  std::optional<Price> find(const std::string& model) const;
  // Estimated cost of `usage` for `model`; nullopt for an unknown model.
  std::optional<double> cost(const std::string& model, const Usage& usage) const;

 private:
  std::map<std::string, Price> m_prices;
};

struct BudgetLimits {
  std::optional<long long> max_tokens_total;  // input + output tokens over all requests
  std::optional<double> max_cost_usd;         // estimated; ignored for unknown prices
};

// Running totals and limits for one run. Thread-safe.
// A request starts only if its prompt still fits after what finished requests used and
// the worst case (prompt + max output) of requests in flight, so a run overshoots a
// limit by at most one request's output.
class Budget {
 public:
  Budget(BudgetLimits limits, PriceTable prices, std::string model);

  struct Reservation {
    long long tokens = 0;
    double cost = 0;
  };
  // Reserves the worst case of a request whose prompt is about `input_tokens` long.
  // nullopt: it does not fit; exhausted_reason() says which limit.
  std::optional<Reservation> try_reserve(long long input_tokens, long long max_output_tokens);
  // Replaces `reservation` by what the request used; returns its cost (nullopt: unknown).
  std::optional<double> settle(const Reservation& reservation, const Usage& usage);

  // True once a limit is reached by finished requests (the loop should stop asking).
  bool exhausted() const;
  // Which limit stopped the run, for a person; empty while none did.
  std::string exhausted_reason() const;
  // Why --max-cost cannot hold (a limit set for a model the price table lacks), for a
  // warning at start; empty when it can, or when no cost limit is set.
  std::string unpriced_cost_limit() const;

  // What earlier sessions of the same runs spent (kopt optimize --resume): counted as
  // spent, so the limits hold over every session, not each.
  void add_earlier(long long input_tokens, long long output_tokens, double cost_usd);

  long long input_tokens() const;
  long long output_tokens() const;
  double cost_usd() const;
  bool cost_known() const;  // false if any request's model had no price
  const BudgetLimits& limits() const { return m_limits; }

 private:
  BudgetLimits m_limits;
  PriceTable m_prices;
  std::string m_model;
  mutable std::mutex m_mutex;
  long long m_in = 0, m_out = 0;
  double m_cost = 0;
  bool m_cost_known = true;
  Reservation m_reserved;
  std::string m_refused;  // why the last try_reserve failed
};

// A rough token count for text (about 4 characters a token), for reservations only.
long long estimate_tokens(const std::string& text);

}  // namespace kopt::providers
