// Success paths and reply-level faults of both HTTP protocols, against a loopback server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kopt/providers/accounting.hpp"
#include "kopt/providers/dispatch.hpp"
#include "kopt/providers/factory.hpp"
#include "kopt/sandbox/environment.hpp"
#include "support/http_server.hpp"
#include "unit/providers/test_env.hpp"

namespace pv = kopt::providers;
using kopt::testing::HttpServer;
using kopt::testing::ScriptedResponse;

namespace {

std::unique_ptr<pv::Provider> provider_for(const std::string& kind, const HttpServer& server) {
  auto p = pv::make_provider(kopt::testing::fast_options(kind, server.base_url()), kopt::testing::test_env());
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.failure().message);
  return std::move(p.value());
}

pv::Request request() { return {1, "SYSTEM PROMPT", "USER PROMPT"}; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("kopt-provider-test-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

}  // namespace

TEST(openai_provider, sends_model_messages_max_tokens_and_bearer_key_and_reads_the_reply) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::openai_body(kopt::testing::kCandidateReply)}});
  auto provider = provider_for("openai", server);
  const auto reply = provider->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, kopt::testing::kCandidateReply);
  EXPECT_EQ(reply.finish_reason, "stop");
  EXPECT_EQ(reply.usage.input_tokens, 1000);
  EXPECT_EQ(reply.usage.output_tokens, 500);
  ASSERT_EQ(server.requests().size(), 1u);
  const auto got = server.requests().at(0);
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/chat/completions");
  EXPECT_EQ(got.headers.at("authorization"), "Bearer " + kopt::testing::kOpenAiKey);
  EXPECT_EQ(got.headers.at("content-type"), "application/json");
  const auto body = nlohmann::json::parse(got.body);
  EXPECT_EQ(body["model"], "gpt-4o");
  EXPECT_EQ(body["max_tokens"], 1234);
  EXPECT_FALSE(body.contains("temperature"));
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][0]["content"], "SYSTEM PROMPT");
  EXPECT_EQ(body["messages"][1]["role"], "user");
  EXPECT_EQ(body["messages"][1]["content"], "USER PROMPT");
}

TEST(openai_provider, sends_the_temperature_only_when_asked) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::openai_body("hi")}});
  auto options = kopt::testing::fast_options("openai", server.base_url());
  options.temperature = 0.25;
  auto provider = pv::make_provider(options, kopt::testing::test_env());
  ASSERT_TRUE(provider.ok());
  (void)(*provider)->complete(request());
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(server.requests().at(0).body)["temperature"].get<double>(), 0.25);
}

TEST(openai_provider, needs_no_key_for_a_local_server) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::openai_body("hi")}});
  auto provider = pv::make_provider(kopt::testing::fast_options("openai", server.base_url()), {"PATH=/bin"});
  ASSERT_TRUE(provider.ok());
  EXPECT_EQ((*provider)->complete(request()).outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(server.requests().at(0).headers.count("authorization"), 0u);
}

TEST(openai_provider, refuses_to_start_for_the_public_api_without_a_key) {
  auto options = kopt::testing::fast_options("openai", "");
  auto provider = pv::make_provider(options, {"PATH=/bin"});
  ASSERT_FALSE(provider.ok());
  EXPECT_EQ(provider.failure().kind, "usage");
  EXPECT_NE(provider.failure().message.find("OPENAI_API_KEY"), std::string::npos);
}

TEST(openai_provider, takes_the_base_url_from_the_environment) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::openai_body("hi")}});
  auto options = kopt::testing::fast_options("openai", "");
  auto provider = pv::make_provider(options, {"OPENAI_BASE_URL=" + server.base_url() + "/v1/"});
  ASSERT_TRUE(provider.ok());
  EXPECT_EQ((*provider)->complete(request()).outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(server.requests().at(0).path, "/v1/chat/completions");
}

TEST(openai_provider, reports_a_refusal_with_the_models_words) {
  HttpServer server;
  nlohmann::json body = nlohmann::json::parse(kopt::testing::openai_body(""));
  body["choices"][0]["message"]["content"] = nullptr;
  body["choices"][0]["message"]["refusal"] = "I can't help with that.";
  server.script({{200, {}, body.dump()}});
  const auto reply = provider_for("openai", server)->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::refused);
  EXPECT_NE(reply.message.find("I can't help with that."), std::string::npos);
}

TEST(openai_provider, marks_a_reply_cut_at_the_length_limit_as_truncated_and_keeps_the_text) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::openai_body("```python\nclass ModelNew:", "length")}});
  const auto reply = provider_for("openai", server)->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::truncated);
  EXPECT_EQ(reply.finish_reason, "length");
  EXPECT_EQ(reply.text, "```python\nclass ModelNew:");
  EXPECT_NE(reply.message.find("1234"), std::string::npos);
}

TEST(openai_provider, reports_an_empty_choices_list) {
  HttpServer server;
  server.script({{200, {}, R"({"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":0}})"}});
  const auto reply = provider_for("openai", server)->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::empty);
  EXPECT_NE(reply.message.find("choices"), std::string::npos);
  EXPECT_EQ(reply.usage.input_tokens, 5);
}

TEST(anthropic_provider, sends_model_system_messages_max_tokens_and_key_headers_and_reads_the_reply) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::anthropic_body(kopt::testing::kCandidateReply)}});
  auto provider = provider_for("anthropic", server);
  const auto reply = provider->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, kopt::testing::kCandidateReply);
  EXPECT_EQ(reply.finish_reason, "end_turn");
  EXPECT_EQ(reply.usage.input_tokens, 2000);
  EXPECT_EQ(reply.usage.output_tokens, 300);
  const auto got = server.requests().at(0);
  EXPECT_EQ(got.path, "/v1/messages");
  EXPECT_EQ(got.headers.at("x-api-key"), kopt::testing::kAnthropicKey);
  EXPECT_EQ(got.headers.at("anthropic-version"), "2023-06-01");
  EXPECT_EQ(got.headers.count("authorization"), 0u);
  const auto body = nlohmann::json::parse(got.body);
  EXPECT_EQ(body["model"], "claude-sonnet-4-20250514");
  EXPECT_EQ(body["max_tokens"], 1234);
  EXPECT_EQ(body["system"], "SYSTEM PROMPT");
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_EQ(body["messages"][0]["content"], "USER PROMPT");
}

TEST(anthropic_provider, joins_several_text_blocks_and_skips_others) {
  HttpServer server;
  nlohmann::json body = nlohmann::json::parse(kopt::testing::anthropic_body("a"));
  body["content"] = {{{"type", "thinking"}, {"thinking", "hmm"}}, {{"type", "text"}, {"text", "one "}},
                     {{"type", "text"}, {"text", "two"}}};
  server.script({{200, {}, body.dump()}});
  EXPECT_EQ(provider_for("anthropic", server)->complete(request()).text, "one two");
}

// Fields of another type than the API's: a reply, not an exception (a numeric block
// "type" ended kopt with the JSON library's error, and with two requests in flight aborted it).
TEST(anthropic_provider, fields_of_another_type_are_a_malformed_or_skipped_reply_not_an_exception) {
  HttpServer server;
  nlohmann::json odd = nlohmann::json::parse(kopt::testing::anthropic_body("a"));
  odd["content"] = {{{"type", 7}, {"text", "x"}}, {{"type", nullptr}, {"text", "y"}}, {{"type", "text"}, {"text", "z"}}};
  odd["stop_reason"] = 4;
  nlohmann::json top = nlohmann::json::parse(kopt::testing::anthropic_body("a"));
  top["type"] = 5;
  server.script({{200, {}, odd.dump()}, {200, {}, top.dump()}});
  auto provider = provider_for("anthropic", server);
  EXPECT_EQ(provider->complete(request()).text, "z");
  EXPECT_EQ(provider->complete(request()).text, "a");
}

// Counts a server got wrong (absent, negative, fractional, huge, strings) are not taken:
// the tokens are estimated from the text, so --max-tokens-total and --max-cost still hold
// (negative counts gave a negative total and cost; absent ones counted as nothing).
TEST(openai_provider, usage_a_server_got_wrong_is_estimated_from_the_text) {
  HttpServer server;
  std::vector<ScriptedResponse> script;
  for (const nlohmann::json& usage : std::vector<nlohmann::json>{
           nullptr, {{"prompt_tokens", -100000}, {"completion_tokens", 3000}},
           {{"prompt_tokens", 9223372036854775807LL}, {"completion_tokens", 1}}, {{"prompt_tokens", "10"}, {"completion_tokens", 1}},
           {{"prompt_tokens", 10.5}, {"completion_tokens", 1}}}) {
    nlohmann::json body = nlohmann::json::parse(kopt::testing::openai_body(std::string(400, 'x')));
    if (usage.is_null()) body.erase("usage");
    else body["usage"] = usage;
    script.push_back({200, {}, body.dump()});
  }
  server.script(script);
  auto provider = provider_for("openai", server);
  std::vector<pv::Request> requests(script.size(), request());
  for (size_t i = 0; i < requests.size(); ++i) requests[i].index = static_cast<int>(i + 1);
  const auto replies = pv::dispatch(*provider, requests, {}, nullptr, nullptr);
  ASSERT_EQ(replies.size(), script.size());
  for (const auto& r : replies) {
    EXPECT_FALSE(r.usage.reported) << r.index;
    EXPECT_TRUE(r.usage.estimated) << r.index;
    EXPECT_EQ(r.usage.output_tokens, pv::estimate_tokens(std::string(400, 'x'))) << r.index;
    EXPECT_GT(r.usage.input_tokens, 0) << r.index;
  }
}

TEST(anthropic_provider, reports_a_refusal_stop_reason) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::anthropic_body("", "refusal")}});
  const auto reply = provider_for("anthropic", server)->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::refused);
  EXPECT_NE(reply.message.find("refusal"), std::string::npos);
}

TEST(anthropic_provider, marks_a_max_tokens_stop_as_truncated) {
  HttpServer server;
  server.script({{200, {}, kopt::testing::anthropic_body("partial", "max_tokens")}});
  EXPECT_EQ(provider_for("anthropic", server)->complete(request()).outcome, pv::ReplyOutcome::truncated);
}

TEST(anthropic_provider, stops_at_once_on_401_naming_the_key_variable) {
  HttpServer server;
  server.script({{401, {}, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})"}});
  const auto reply = provider_for("anthropic", server)->complete(request());
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::auth_failed);
  EXPECT_EQ(reply.attempts, 1);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_NE(reply.message.find("invalid x-api-key"), std::string::npos);
  EXPECT_NE(reply.message.find("ANTHROPIC_API_KEY"), std::string::npos);
}

TEST(transcripts, hold_requests_and_replies_of_both_protocols_without_any_secret) {
  const std::string dir = temp_dir("transcripts");
  for (const std::string kind : {"openai", "anthropic"}) {
    HttpServer server;
    // A hostile server echoes the key back in its body and headers.
    const std::string echoed = "key was " + kopt::testing::kOpenAiKey + " / " + kopt::testing::kAnthropicKey;
    server.script({{200, {{"X-Echo", echoed}},
                    kind == "openai" ? kopt::testing::openai_body(kopt::testing::kCandidateReply + echoed)
                                     : kopt::testing::anthropic_body(kopt::testing::kCandidateReply + echoed)}});
    auto provider = provider_for(kind, server);
    std::vector<std::string> secrets = provider->secrets();
    for (const auto& value : kopt::sandbox::secret_values(kopt::testing::test_env())) secrets.push_back(value);
    auto transcript = pv::Transcript::open(dir + "/" + kind, secrets);
    ASSERT_TRUE(transcript.ok());
    pv::Budget budget({}, pv::PriceTable::builtin(), provider->model());
    const auto replies = pv::dispatch(*provider, {{7, "sys hunter2hunter2", "user"}}, {}, &budget, &transcript.value());
    ASSERT_EQ(replies.at(0).outcome, pv::ReplyOutcome::ok);
    const std::string req = slurp(transcript->request_path(7));
    const std::string res = slurp(transcript->response_path(7));
    ASSERT_FALSE(req.empty());
    ASSERT_FALSE(res.empty());
    for (const auto& text : {req, res}) {
      EXPECT_EQ(text.find(kopt::testing::kOpenAiKey), std::string::npos) << kind;
      EXPECT_EQ(text.find(kopt::testing::kAnthropicKey), std::string::npos) << kind;
      EXPECT_EQ(text.find("hunter2hunter2"), std::string::npos) << kind;
    }
    EXPECT_NE(req.find("[REDACTED]"), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(req)["body"]["model"], provider->model());
    const auto saved = nlohmann::json::parse(res);
    EXPECT_EQ(saved["outcome"], "ok");
    EXPECT_GT(saved["cost_usd"].get<double>(), 0.0);
  }
  std::filesystem::remove_all(dir);
}
