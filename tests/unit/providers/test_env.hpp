#pragma once
// Shared helpers for provider tests: fast options and canned replies.
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kopt/providers/factory.hpp"

namespace kopt::testing {

// Options with small timeouts and backoffs, so fault tests stay fast.
inline providers::ProviderOptions fast_options(const std::string& kind, const std::string& base_url) {
  providers::ProviderOptions o;
  o.kind = kind;
  o.model = kind == "openai" ? "gpt-4o" : "claude-sonnet-4-20250514";
  o.base_url = base_url;
  o.max_output_tokens = 1234;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.timeout = std::chrono::milliseconds(1500);
  o.max_retries = 3;
  o.backoff_base = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(40);
  o.max_retry_after = std::chrono::milliseconds(2000);
  return o;
}

inline const std::string kOpenAiKey = "sk-test-0123456789abcdef";
inline const std::string kAnthropicKey = "sk-ant-test-fedcba9876543210";

inline std::vector<std::string> test_env() {
  return {"OPENAI_API_KEY=" + kOpenAiKey, "ANTHROPIC_API_KEY=" + kAnthropicKey, "PATH=/usr/bin:/bin",
          "OTHER_SECRET_TOKEN=hunter2hunter2"};
}

inline const std::string kCandidateReply =
    "Fused it.\n```python\nimport torch\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return x\n```\n";

inline std::string openai_body(const std::string& content, const std::string& finish = "stop") {
  nlohmann::json j = {{"id", "chatcmpl-1"},
                      {"object", "chat.completion"},
                      {"choices", {{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", content}, {"refusal", nullptr}}},
                                    {"finish_reason", finish}}}},
                      {"usage", {{"prompt_tokens", 1000}, {"completion_tokens", 500}, {"total_tokens", 1500}}}};
  return j.dump();
}

inline std::string anthropic_body(const std::string& text, const std::string& stop = "end_turn") {
  nlohmann::json j = {{"id", "msg_1"},
                      {"type", "message"},
                      {"role", "assistant"},
                      {"content", {{{"type", "text"}, {"text", text}}}},
                      {"stop_reason", stop},
                      {"usage", {{"input_tokens", 2000}, {"output_tokens", 300}}}};
  return j.dump();
}

}  // namespace kopt::testing
