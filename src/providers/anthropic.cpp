// Anthropic Messages API: POST {base}/v1/messages with x-api-key and anthropic-version.
#include <optional>

#include "http_provider.hpp"
#include "kopt/util/json.hpp"

namespace kopt::providers {

namespace {

// A token count as a server reports it: a whole number from 0 to 10^9 (one reply); any
// other value (absent, negative, fractional, huge, a string) is no count.
std::optional<long long> count(const nlohmann::json& usage, const char* name) {
  const auto it = usage.find(name);
  if (it == usage.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!(v >= 0 && v <= 1e9) || v != static_cast<double>(static_cast<long long>(v))) return std::nullopt;
  return static_cast<long long>(v);
}

class AnthropicProtocol : public Protocol {
 public:
  AnthropicProtocol(std::string base, std::string model, std::string key, const ProviderOptions& options)
      : m_model(std::move(model)), m_key(std::move(key)), m_temperature(options.temperature),
        m_max_tokens(options.max_output_tokens) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    // ANTHROPIC_BASE_URL is the host without /v1 (as in Anthropic's SDKs); accept both.
    const std::string v1 = "/v1";
    if (base.size() >= v1.size() && base.compare(base.size() - v1.size(), v1.size(), v1) == 0)
      base.resize(base.size() - v1.size());
    m_base = base;
  }

  std::string name() const override { return "anthropic"; }
  std::string url() const override { return m_base + "/v1/messages"; }
  std::string key_variable() const override { return "ANTHROPIC_API_KEY"; }

  Headers headers(bool masked) const override {
    Headers h{{"Content-Type", "application/json"}, {"Accept", "application/json"}, {"anthropic-version", "2023-06-01"}};
    if (!m_key.empty()) h.emplace_back("x-api-key", masked ? "[REDACTED]" : m_key);
    return h;
  }

  nlohmann::json body(const Request& request) const override {
    nlohmann::json b = {{"model", m_model},
                        {"max_tokens", m_max_tokens},
                        {"system", request.system},
                        {"messages", nlohmann::json::array({{{"role", "user"}, {"content", request.user}}})}};
    if (m_temperature) b["temperature"] = *m_temperature;
    return b;
  }

  void parse(const nlohmann::json& body, Reply& reply) const override {
    if (util::json_string(body, "type") == "error") {
      reply.outcome = ReplyOutcome::server_error;
      reply.message = "error in a 2xx reply: " + server_message(util::dump_json(body));
      return;
    }
    if (const auto usage = body.find("usage"); usage != body.end() && usage->is_object()) {
      // Reported only when both counts are sane; else the dispatcher estimates them.
      const auto in = count(*usage, "input_tokens"), out = count(*usage, "output_tokens");
      if (in && out) {
        reply.usage.input_tokens = *in;
        reply.usage.output_tokens = *out;
        reply.usage.reported = true;
      }
    }
    const auto content = body.find("content");
    if (content == body.end() || !content->is_array()) {
      reply.outcome = ReplyOutcome::malformed;
      reply.message = "the reply has no \"content\" list";
      return;
    }
    for (const auto& block : *content)
      if (util::json_string(block, "type") == "text" && util::json_field(block, "text").is_string())
        reply.text += util::json_field(block, "text").get<std::string>();
    if (util::json_field(body, "stop_reason").is_string())
      reply.finish_reason = util::json_field(body, "stop_reason").get<std::string>();
    if (reply.finish_reason == "refusal") {
      reply.outcome = ReplyOutcome::refused;
      reply.message = "the model refused (stop_reason \"refusal\")";
      return;
    }
    settle_text_reply(reply, "max_tokens", "stop_reason", m_max_tokens);
  }

 private:
  std::string m_base, m_model, m_key;
  std::optional<double> m_temperature;
  int m_max_tokens;
};

}  // namespace

std::unique_ptr<Protocol> make_anthropic_protocol(std::string base_url, std::string model, std::string key,
                                                  const ProviderOptions& options) {
  return std::make_unique<AnthropicProtocol>(std::move(base_url), std::move(model), std::move(key), options);
}

}  // namespace kopt::providers
