#include "kopt/providers/accounting.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kopt::embedded {
extern const std::string_view prices_json;
}

namespace kopt::providers {

PriceTable PriceTable::builtin() {
  auto table = parse(std::string(embedded::prices_json));
  return table ? table.value() : PriceTable{};  // the build embeds a valid file (tested)
}

Result<PriceTable> PriceTable::parse(const std::string& json_text) {
  auto doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) return Failure{"prices", "the price table is not valid JSON"};
  if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_object())
    return Failure{"prices", "the price table needs a \"models\" object"};
  PriceTable table;
  for (const auto& [name, entry] : doc["models"].items()) {
    if (!entry.is_object() || !entry.contains("input_per_mtok") || !entry.contains("output_per_mtok") ||
        !entry["input_per_mtok"].is_number() || !entry["output_per_mtok"].is_number())
      return Failure{"prices", "model \"" + name + "\" needs numeric input_per_mtok and output_per_mtok"};
    const Price price{entry["input_per_mtok"].get<double>(), entry["output_per_mtok"].get<double>()};
    if (price.input_per_mtok < 0 || price.output_per_mtok < 0)
      return Failure{"prices", "model \"" + name + "\" has a negative price"};
    table.m_prices[name] = price;
  }
  return table;
}

Result<PriceTable> PriceTable::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Failure{"io", "cannot read the price table " + path};
  std::ostringstream text;
  text << in.rdbuf();
  auto table = parse(text.str());
  if (!table) return Failure{table.failure().kind, path + ": " + table.failure().message};
  return table;
}

std::optional<Price> PriceTable::find(const std::string& model) const {
  if (const auto it = m_prices.find(model); it != m_prices.end()) return it->second;
  std::optional<Price> best;
  size_t best_len = 0;
  for (const auto& [name, price] : m_prices) {
    if (name.size() > best_len && model.compare(0, name.size(), name) == 0) {
      best = price;
      best_len = name.size();
    }
  }
  return best;
}

std::optional<double> PriceTable::cost(const std::string& model, const Usage& usage) const {
  const auto price = find(model);
  if (!price) return std::nullopt;
  return (usage.input_tokens * price->input_per_mtok + usage.output_tokens * price->output_per_mtok) / 1e6;
}

long long estimate_tokens(const std::string& text) { return static_cast<long long>(text.size() / 4 + 1); }

Budget::Budget(BudgetLimits limits, PriceTable prices, std::string model)
    : m_limits(limits), m_prices(std::move(prices)), m_model(std::move(model)) {}

std::optional<Budget::Reservation> Budget::try_reserve(long long input_tokens, long long max_output_tokens) {
  std::lock_guard<std::mutex> lock(m_mutex);
  const Usage prompt{input_tokens, 0, false};
  const Usage worst{input_tokens, max_output_tokens, false};
  if (m_limits.max_tokens_total) {
    const long long limit = *m_limits.max_tokens_total;
    if (m_in + m_out + m_reserved.tokens + input_tokens > limit) {
      m_refused = "token budget reached: " + std::to_string(m_in + m_out) + " used, " +
                  std::to_string(m_reserved.tokens) + " reserved by requests in flight, limit " + std::to_string(limit);
      return std::nullopt;
    }
  }
  double worst_cost = 0;
  if (m_limits.max_cost_usd) {
    const auto prompt_cost = m_prices.cost(m_model, prompt);
    worst_cost = m_prices.cost(m_model, worst).value_or(0);
    if (prompt_cost && m_cost + m_reserved.cost + *prompt_cost > *m_limits.max_cost_usd) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "cost budget reached: $%.4f spent, $%.4f reserved, limit $%.4f", m_cost,
                    m_reserved.cost, *m_limits.max_cost_usd);
      m_refused = buf;
      return std::nullopt;
    }
  }
  Reservation r{input_tokens + max_output_tokens, worst_cost};
  m_reserved.tokens += r.tokens;
  m_reserved.cost += r.cost;
  return r;
}

std::optional<double> Budget::settle(const Reservation& reservation, const Usage& usage) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_reserved.tokens -= reservation.tokens;
  m_reserved.cost -= reservation.cost;
  m_in += usage.input_tokens;
  m_out += usage.output_tokens;
  const auto cost = m_prices.cost(m_model, usage);
  if (cost) {
    m_cost += *cost;
  } else if (usage.input_tokens + usage.output_tokens > 0) {
    m_cost_known = false;
  }
  return cost;
}

bool Budget::exhausted() const { return !exhausted_reason().empty(); }

std::string Budget::unpriced_cost_limit() const {
  if (!m_limits.max_cost_usd || m_prices.find(m_model)) return "";
  return "No price for model \"" + m_model + "\": --max-cost cannot limit it.";
}

std::string Budget::exhausted_reason() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_limits.max_tokens_total && m_in + m_out >= *m_limits.max_tokens_total)
    return "token budget reached: " + std::to_string(m_in + m_out) + " of " + std::to_string(*m_limits.max_tokens_total);
  if (m_limits.max_cost_usd && m_cost >= *m_limits.max_cost_usd) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "cost budget reached: $%.4f of $%.4f", m_cost, *m_limits.max_cost_usd);
    return buf;
  }
  return m_refused;
}

void Budget::add_earlier(long long input_tokens, long long output_tokens, double cost_usd) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_in += std::max(0LL, input_tokens);
  m_out += std::max(0LL, output_tokens);
  if (std::isfinite(cost_usd) && cost_usd > 0) m_cost += cost_usd;
}

long long Budget::input_tokens() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_in;
}
long long Budget::output_tokens() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_out;
}
double Budget::cost_usd() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_cost;
}
bool Budget::cost_known() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_cost_known;
}

}  // namespace kopt::providers
