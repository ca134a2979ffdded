#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kopt/providers/transcript.hpp"

namespace pv = kopt::providers;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST(mask_credential_headers, masks_authorization_api_keys_and_cookies_only) {
  const nlohmann::json headers = {{"Authorization", "Bearer sk-live-abc"},
                                  {"x-api-key", "sk-ant-xyz"},
                                  {"Cookie", "session=1"},
                                  {"Content-Type", "application/json"}};
  const auto masked = pv::mask_credential_headers(headers);
  EXPECT_EQ(masked["Authorization"], "Bearer [REDACTED]");
  EXPECT_EQ(masked["x-api-key"], "[REDACTED]");
  EXPECT_EQ(masked["Cookie"], "[REDACTED]");
  EXPECT_EQ(masked["Content-Type"], "application/json");
}

TEST(transcript, writes_one_numbered_pair_per_request_with_secrets_redacted) {
  const auto dir = std::filesystem::temp_directory_path() / ("kopt-transcript-" + std::to_string(getpid()));
  auto t = pv::Transcript::open(dir.string(), {"very-secret-value"});
  ASSERT_TRUE(t.ok());
  pv::Reply reply;
  reply.index = 12;
  reply.outcome = pv::ReplyOutcome::bad_request;
  reply.message = "HTTP 400: key very-secret-value is bad";
  reply.usage = {10, 0, true};
  reply.exchange["request"] = {{"headers", {{"Authorization", "Bearer very-secret-value"}}}, {"body", {{"model", "m"}}}};
  reply.exchange["response"] = {{"status", 400}, {"body", "invalid \xff utf-8 very-secret-value"}};
  ASSERT_TRUE(t->save(reply, "openai", "m").ok());
  EXPECT_EQ(t->request_path(12), (dir / "requests" / "0012.request.json").string());
  const std::string req = slurp(t->request_path(12));
  const std::string res = slurp(t->response_path(12));
  EXPECT_EQ(req.find("very-secret-value"), std::string::npos);
  EXPECT_EQ(res.find("very-secret-value"), std::string::npos);
  const auto saved = nlohmann::json::parse(res);
  EXPECT_EQ(saved["outcome"], "bad_request");
  EXPECT_EQ(saved["index"], 12);
  EXPECT_EQ(saved["usage"]["input_tokens"], 10);
  EXPECT_TRUE(saved["cost_usd"].is_null());
  EXPECT_EQ(nlohmann::json::parse(req)["provider"], "openai");
  std::filesystem::remove_all(dir);
}

TEST(transcript, stores_a_long_reply_text_once_and_points_to_it_from_the_raw_response) {
  const auto dir = std::filesystem::temp_directory_path() / ("kopt-transcript-once-" + std::to_string(getpid()));
  auto t = pv::Transcript::open(dir.string(), {});
  ASSERT_TRUE(t.ok());
  pv::Reply reply;
  reply.index = 1;
  reply.outcome = pv::ReplyOutcome::ok;
  reply.text = "class ModelNew:\n" + std::string(100000, 'x');
  const nlohmann::json choice = {{"message", {{"role", "assistant"}, {"content", reply.text}}}};
  reply.exchange["response"] = {{"status", 200}, {"body", {{"choices", {choice}}, {"model", "m"}}}};
  ASSERT_TRUE(t->save(reply, "openai", "m").ok());
  const std::string res = slurp(t->response_path(1));
  EXPECT_LT(res.size(), 101000u) << "the text is stored more than once";
  const auto saved = nlohmann::json::parse(res);
  EXPECT_EQ(saved["text"], reply.text);
  const auto& content = saved["raw"]["body"]["choices"][0]["message"]["content"];
  EXPECT_NE(content.get<std::string>().find("stored once as \"text\""), std::string::npos) << content;
  EXPECT_EQ(saved["raw"]["body"]["model"], "m");
  EXPECT_EQ(saved["raw"]["status"], 200);
  // A short reply's raw body stays whole.
  reply.index = 2;
  reply.text = "short";
  reply.exchange["response"] = {{"stdout", "short"}};
  ASSERT_TRUE(t->save(reply, "exec", "m").ok());
  EXPECT_EQ(nlohmann::json::parse(slurp(t->response_path(2)))["raw"]["stdout"], "short");
  std::filesystem::remove_all(dir);
}

TEST(transcript, saves_candidates_and_the_summary_beside_the_requests) {
  const auto dir = std::filesystem::temp_directory_path() / ("kopt-transcript-c-" + std::to_string(getpid()));
  auto t = pv::Transcript::open((dir / "nested" / "run").string(), {"summary-secret"});
  ASSERT_TRUE(t.ok()) << t.failure().message;
  auto path = t->save_candidate(3, "class ModelNew: pass\n");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path.value(), (dir / "nested" / "run" / "candidates" / "0003" / "candidate.py").string());
  EXPECT_EQ(slurp(path.value()), "class ModelNew: pass\n");
  ASSERT_TRUE(t->save_summary({{"note", "summary-secret"}}).ok());
  EXPECT_EQ(nlohmann::json::parse(slurp(t->dir() + "/summary.json"))["note"], "[REDACTED]");
  std::filesystem::remove_all(dir);
}

TEST(transcript, fails_cleanly_when_the_directory_cannot_be_made) {
  auto t = pv::Transcript::open("/proc/kopt-cannot-write-here", {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.failure().kind, "io");
}
