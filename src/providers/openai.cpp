// OpenAI chat completions: POST {base}/chat/completions. Also what vLLM, Ollama,
// llama.cpp and most local servers speak.
#include <optional>

#include "http_provider.hpp"
#include "kopt/util/json.hpp"

namespace kopt::providers {

namespace {

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Content is a string, null, or (some servers) a list of {"type": "text", "text": ...}.
std::string content_text(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content)
      if (util::json_field(part, "text").is_string()) out += util::json_field(part, "text").get<std::string>();
  }
  return out;
}

// A token count as a server reports it: a whole number from 0 to 10^9 (one reply); any
// other value (absent, negative, fractional, huge, a string) is no count.
std::optional<long long> count(const nlohmann::json& usage, const char* name) {
  const auto it = usage.find(name);
  if (it == usage.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!(v >= 0 && v <= 1e9) || v != static_cast<double>(static_cast<long long>(v))) return std::nullopt;
  return static_cast<long long>(v);
}

class OpenAiProtocol : public Protocol {
 public:
  OpenAiProtocol(std::string base, std::string model, std::string key, const ProviderOptions& options)
      : m_base(trim_slash(std::move(base))), m_model(std::move(model)), m_key(std::move(key)),
        m_temperature(options.temperature), m_max_tokens(options.max_output_tokens) {
    // OpenAI's own API rejects max_tokens for reasoning models; local servers may not know
    // the newer name.
    m_tokens_field = m_base.find("://api.openai.com") != std::string::npos ? "max_completion_tokens" : "max_tokens";
  }

  std::string name() const override { return "openai"; }
  std::string url() const override { return m_base + "/chat/completions"; }
  std::string key_variable() const override { return "OPENAI_API_KEY"; }

  Headers headers(bool masked) const override {
    Headers h{{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    if (!m_key.empty()) h.emplace_back("Authorization", masked ? "Bearer [REDACTED]" : "Bearer " + m_key);
    return h;
  }

  nlohmann::json body(const Request& request) const override {
    nlohmann::json b = {{"model", m_model},
                        {"messages", nlohmann::json::array({{{"role", "system"}, {"content", request.system}},
                                                            {{"role", "user"}, {"content", request.user}}})},
                        {m_tokens_field, m_max_tokens}};
    if (m_temperature) b["temperature"] = *m_temperature;
    return b;
  }

  void parse(const nlohmann::json& body, Reply& reply) const override {
    const auto choices = body.find("choices");
    if (choices == body.end() || !choices->is_array()) {
      reply.outcome = body.contains("error") ? ReplyOutcome::server_error : ReplyOutcome::malformed;
      reply.message = body.contains("error") ? "error in a 2xx reply: " + server_message(util::dump_json(body))
                                             : "the reply has no \"choices\" list";
      return;
    }
    if (const auto usage = body.find("usage"); usage != body.end() && usage->is_object()) {
      // Reported only when both counts are sane; else the dispatcher estimates them.
      const auto in = count(*usage, "prompt_tokens"), out = count(*usage, "completion_tokens");
      if (in && out) {
        reply.usage.input_tokens = *in;
        reply.usage.output_tokens = *out;
        reply.usage.reported = true;
      }
    }
    if (choices->empty()) {
      reply.outcome = ReplyOutcome::empty;
      reply.message = "the server returned an empty \"choices\" list";
      return;
    }
    const auto& choice = (*choices)[0];
    if (!choice.is_object() || !util::json_field(choice, "message").is_object()) {
      reply.outcome = ReplyOutcome::malformed;
      reply.message = "the first choice has no \"message\" object";
      return;
    }
    const auto& message = util::json_field(choice, "message");
    if (util::json_field(choice, "finish_reason").is_string())
      reply.finish_reason = util::json_field(choice, "finish_reason").get<std::string>();
    reply.text = content_text(util::json_field(message, "content"));
    if (message.contains("refusal") && message["refusal"].is_string() && !message["refusal"].get<std::string>().empty()) {
      reply.outcome = ReplyOutcome::refused;
      reply.message = "the model refused: " + server_message(util::dump_json(nlohmann::json{{"message", message["refusal"]}}));
      return;
    }
    if (reply.finish_reason == "content_filter") {
      reply.outcome = ReplyOutcome::refused;
      reply.message = "the reply was stopped by the content filter";
      return;
    }
    settle_text_reply(reply, "length", "finish_reason", m_max_tokens);
  }

 private:
  std::string m_base, m_model, m_key;
  std::optional<double> m_temperature;
  int m_max_tokens;
  std::string m_tokens_field;
};

}  // namespace

std::unique_ptr<Protocol> make_openai_protocol(std::string base_url, std::string model, std::string key,
                                               const ProviderOptions& options) {
  return std::make_unique<OpenAiProtocol>(std::move(base_url), std::move(model), std::move(key), options);
}

}  // namespace kopt::providers
