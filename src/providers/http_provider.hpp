#pragma once
// A Provider over HTTP: one Protocol (OpenAI chat completions, Anthropic messages)
// plus the shared retry loop, timeouts and transcript records. Private to the layer.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "kopt/providers/factory.hpp"
#include "kopt/providers/provider.hpp"
#include "kopt/providers/retry.hpp"

namespace kopt::providers {

// What differs between the HTTP APIs.
class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual std::string name() const = 0;
  virtual std::string url() const = 0;
  // Request headers; with `masked`, credentials replaced for the transcript.
  virtual Headers headers(bool masked) const = 0;
  virtual nlohmann::json body(const Request& request) const = 0;
  // Fills text, finish_reason, usage and outcome (ok, truncated, refused, empty,
  // malformed) from a 2xx body that parsed as JSON.
  virtual void parse(const nlohmann::json& body, Reply& reply) const = 0;
  // The environment variable that holds the key, for 401/403 messages.
  virtual std::string key_variable() const = 0;
};

class HttpProvider : public Provider {
 public:
  HttpProvider(std::unique_ptr<Protocol> protocol, std::string model, std::string key,
               const ProviderOptions& options);
  Reply complete(const Request& request) override;
  std::string name() const override { return m_protocol->name(); }
  std::string model() const override { return m_model; }
  std::vector<std::string> secrets() const override;

 private:
  void classify_failure(const HttpResponse& response, Reply& reply) const;
  std::unique_ptr<Protocol> m_protocol;
  std::string m_model;
  std::string m_key;
  RetryPolicy m_retry;
  std::chrono::milliseconds m_connect_timeout;
  std::chrono::milliseconds m_timeout;
  std::function<bool()> m_should_stop;
};

// The server's own error message from an error body ({"error": {"message": ...}} in
// both APIs), else the start of the body, control characters stripped, one line.
std::string server_message(const std::string& body);

// The common end of parsing a reply's text: empty -> empty, `finish_reason ==
// length_reason` -> truncated, else ok. `reason_field` names the field in messages.
void settle_text_reply(Reply& reply, const std::string& length_reason, const char* reason_field,
                       int max_tokens);

// Protocols (openai.cpp, anthropic.cpp).
std::unique_ptr<Protocol> make_openai_protocol(std::string base_url, std::string model, std::string key,
                                               const ProviderOptions& options);
std::unique_ptr<Protocol> make_anthropic_protocol(std::string base_url, std::string model, std::string key,
                                                  const ProviderOptions& options);

}  // namespace kopt::providers
