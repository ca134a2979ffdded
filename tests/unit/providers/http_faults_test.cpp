// Every transport and HTTP fault is a recorded outcome with the server's message, never
// a crash; retries only where they can help.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "kopt/providers/factory.hpp"
#include "support/http_server.hpp"
#include "unit/providers/test_env.hpp"

namespace pv = kopt::providers;
using kopt::testing::HttpServer;
using kopt::testing::ScriptedResponse;
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<pv::Provider> openai_at(const std::string& base_url, pv::ProviderOptions* tweak = nullptr) {
  auto options = tweak ? *tweak : kopt::testing::fast_options("openai", base_url);
  options.base_url = base_url;
  auto p = pv::make_provider(options, kopt::testing::test_env());
  EXPECT_TRUE(p.ok());
  return std::move(p.value());
}

pv::Reply ask(pv::Provider& provider) { return provider.complete({1, "system", "user"}); }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

ScriptedResponse ok_reply() { return {200, {}, kopt::testing::openai_body("done")}; }

}  // namespace

TEST(http_faults, a_refused_connection_is_a_connection_failure) {
  const auto provider = openai_at("http://127.0.0.1:" + std::to_string(kopt::testing::unused_port()));
  const auto reply = ask(*provider);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::connection_failed);
  EXPECT_NE(reply.message.find("cannot connect"), std::string::npos) << reply.message;
  EXPECT_EQ(reply.attempts, 1);
}

TEST(http_faults, a_server_that_never_accepts_hits_the_connect_timeout) {
  kopt::testing::FullBacklogListener listener;
  auto options = kopt::testing::fast_options("openai", "");
  options.connect_timeout = std::chrono::milliseconds(300);
  const auto provider = openai_at("http://127.0.0.1:" + std::to_string(listener.port()), &options);
  const auto start = Clock::now();
  const auto reply = ask(*provider);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::timed_out) << reply.message;
  EXPECT_NE(reply.message.find("connect"), std::string::npos) << reply.message;
  EXPECT_LT(seconds_since(start), 1.2);
}

TEST(http_faults, a_server_that_accepts_and_never_answers_hits_the_total_timeout) {
  HttpServer server;
  server.script({{200, {}, "", std::chrono::milliseconds(0), /*hang=*/true}});
  auto options = kopt::testing::fast_options("openai", "");
  options.timeout = std::chrono::milliseconds(400);
  const auto provider = openai_at(server.base_url(), &options);
  const auto start = Clock::now();
  const auto reply = ask(*provider);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::timed_out);
  EXPECT_NE(reply.message.find("no complete reply within 0.4 s"), std::string::npos) << reply.message;
  EXPECT_GE(seconds_since(start), 0.35);
  EXPECT_LT(seconds_since(start), 1.5);
}

// Ctrl-C while a request is in flight: it comes back unanswered (pending, asked again on
// --resume) within about a second, not at --timeout (it was recorded as timed out, after
// all of it).
TEST(http_faults, a_stop_while_the_request_is_in_flight_leaves_it_pending_at_once) {
  HttpServer server;
  server.script({{200, {}, "", std::chrono::milliseconds(0), /*hang=*/true}});
  std::atomic<bool> stop{false};
  auto options = kopt::testing::fast_options("openai", "");
  options.timeout = std::chrono::milliseconds(20000);
  options.should_stop = [&stop] { return stop.load(); };
  const auto provider = openai_at(server.base_url(), &options);
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop.store(true);
  });
  const auto start = Clock::now();
  const auto reply = ask(*provider);
  stopper.join();
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::pending) << reply.message;
  EXPECT_NE(reply.message.find("asked again on --resume"), std::string::npos) << reply.message;
  EXPECT_LT(seconds_since(start), 3.0);
}

TEST(http_faults, a_429_with_retry_after_waits_that_long_then_retries) {
  HttpServer server;
  server.script({{429, {{"Retry-After", "1"}}, R"({"error":{"message":"slow down"}})"}, ok_reply()});
  const auto provider = openai_at(server.base_url());
  const auto start = Clock::now();
  const auto reply = ask(*provider);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.attempts, 2);
  EXPECT_GE(seconds_since(start), 0.95);
  EXPECT_EQ(reply.exchange["response"]["attempts"][0]["retry_after_s"], 1.0);
}

TEST(http_faults, a_429_asking_for_longer_than_the_bound_gives_up_at_once) {
  HttpServer server;
  server.script({{429, {{"Retry-After", "3600"}}, R"({"error":{"message":"quota exceeded"}})"}, ok_reply()});
  const auto provider = openai_at(server.base_url());
  const auto start = Clock::now();
  const auto reply = ask(*provider);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::rate_limited);
  EXPECT_EQ(reply.attempts, 1);
  EXPECT_NE(reply.message.find("quota exceeded"), std::string::npos);
  EXPECT_NE(reply.message.find("3600 s"), std::string::npos) << reply.message;
  EXPECT_LT(seconds_since(start), 0.5);
}

// A Retry-After too large for milliseconds gives up (it overflowed into a negative delay,
// retried at once); one that is not a number backs off (curl read it as 0: retried at once).
TEST(http_faults, an_absurd_retry_after_gives_up_or_backs_off_but_never_retries_at_once) {
  HttpServer server;
  server.script({{429, {{"Retry-After", "9223372036854775"}}, R"({"error":{"message":"later"}})"}, ok_reply(),
                 {429, {{"Retry-After", "abc"}}, R"({"error":{"message":"later"}})"}, ok_reply()});
  const auto provider = openai_at(server.base_url());
  const auto huge = ask(*provider);
  EXPECT_EQ(huge.outcome, pv::ReplyOutcome::rate_limited) << huge.message;
  EXPECT_EQ(huge.attempts, 1);
  (void)ask(*provider);  // the ok reply the first request left
  const auto junk = ask(*provider);
  EXPECT_EQ(junk.outcome, pv::ReplyOutcome::ok) << junk.message;
  ASSERT_EQ(junk.exchange["response"]["attempts"].size(), 2u);
  EXPECT_FALSE(junk.exchange["response"]["attempts"][0].contains("retry_after_s"));
  EXPECT_GT(junk.exchange["response"]["attempts"][0]["retry_in_s"].get<double>(), 0.0);
}

TEST(http_faults, a_429_without_retry_after_backs_off_and_retries) {
  HttpServer server;
  server.script({{429, {}, R"({"error":{"message":"rate"}})"}, {429, {}, "{}"}, ok_reply()});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(reply.attempts, 3);
  const auto& attempts = reply.exchange["response"]["attempts"];
  EXPECT_GT(attempts[0]["retry_in_s"].get<double>(), 0.0);
}

TEST(http_faults, a_429_that_never_ends_is_rate_limited_after_the_retries) {
  HttpServer server;
  server.script({{429, {}, R"({"error":{"message":"too many"}})"}});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::rate_limited);
  EXPECT_EQ(reply.attempts, 4);
  EXPECT_NE(reply.message.find("too many"), std::string::npos);
}

TEST(http_faults, server_errors_500_502_503_are_retried_with_backoff_until_success) {
  HttpServer server;
  server.script({{500, {}, "oops"}, {502, {}, "<html>bad gateway</html>"}, {503, {}, "{}"}, ok_reply()});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.attempts, 4);
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(http_faults, a_server_error_that_persists_is_reported_after_a_bounded_number_of_attempts) {
  HttpServer server;
  server.script({{503, {}, R"({"error":{"message":"overloaded, try later"}})"}});
  const auto start = Clock::now();
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::server_error);
  EXPECT_EQ(reply.attempts, 4);  // 1 + max_retries (3)
  EXPECT_EQ(reply.http_status, 503);
  EXPECT_NE(reply.message.find("overloaded, try later"), std::string::npos);
  EXPECT_NE(reply.message.find("gave up after 4 attempts"), std::string::npos) << reply.message;
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(http_faults, a_400_reports_the_servers_message_and_is_not_retried) {
  HttpServer server;
  server.script({{400, {}, R"({"error":{"message":"Unsupported parameter: 'max_tokens'","type":"invalid_request_error"}})"}});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::bad_request);
  EXPECT_EQ(reply.attempts, 1);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_NE(reply.message.find("HTTP 400: Unsupported parameter: 'max_tokens'"), std::string::npos) << reply.message;
}

TEST(http_faults, a_401_stops_at_once_and_names_the_key_variable) {
  HttpServer server;
  server.script({{401, {}, R"({"error":{"message":"Incorrect API key provided"}})"}});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::auth_failed);
  EXPECT_EQ(reply.attempts, 1);
  EXPECT_NE(reply.message.find("Incorrect API key provided"), std::string::npos);
  EXPECT_NE(reply.message.find("OPENAI_API_KEY"), std::string::npos);
}

TEST(http_faults, a_403_stops_at_once_and_names_the_key_variable) {
  HttpServer server;
  server.script({{403, {}, "forbidden"}});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::auth_failed);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_NE(reply.message.find("OPENAI_API_KEY"), std::string::npos);
}

TEST(http_faults, a_body_that_is_not_json_is_malformed) {
  HttpServer server;
  server.script({{200, {{"Content-Type", "text/html"}}, "<html>proxy login</html>"}});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::malformed);
  EXPECT_NE(reply.message.find("proxy login"), std::string::npos);
}

TEST(http_faults, truncated_json_is_malformed) {
  HttpServer server;
  const std::string body = kopt::testing::openai_body("text");
  server.script({{200, {}, body.substr(0, body.size() / 2)}});
  EXPECT_EQ(ask(*openai_at(server.base_url())).outcome, pv::ReplyOutcome::malformed);
}

TEST(http_faults, json_of_the_wrong_shape_is_malformed) {
  HttpServer server;
  server.script({{200, {}, R"({"choices": "nope"})"}, {200, {}, "[1,2]"}, {200, {}, R"({"choices":[{"index":0}]})"}});
  const auto provider = openai_at(server.base_url());
  EXPECT_EQ(ask(*provider).outcome, pv::ReplyOutcome::malformed);
  EXPECT_EQ(ask(*provider).outcome, pv::ReplyOutcome::malformed);
  EXPECT_EQ(ask(*provider).outcome, pv::ReplyOutcome::malformed);
}

// Bytes that are not UTF-8 inside the reply's text: the reply is kept, those bytes
// replaced (the whole reply was rejected as "a body that is not a JSON object").
TEST(http_faults, a_reply_with_bytes_that_are_not_utf8_in_its_text_is_kept) {
  HttpServer server;
  std::string body = kopt::testing::openai_body("PLACEHOLDER");
  body.replace(body.find("PLACEHOLDER"), 11, "caf\xe9 ok");
  server.script({{200, {}, body}});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, "caf\xef\xbf\xbd ok");
}

TEST(http_faults, a_connection_closed_mid_body_is_a_connection_failure) {
  HttpServer server;
  ScriptedResponse cut = ok_reply();
  cut.close_mid_body = true;
  server.script({cut});
  const auto reply = ask(*openai_at(server.base_url()));
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::connection_failed);
  EXPECT_NE(reply.message.find("closed before the reply was complete"), std::string::npos) << reply.message;
}

TEST(http_faults, the_anthropic_protocol_retries_its_overload_status_too) {
  HttpServer server;
  server.script({{529, {}, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"},
                 {200, {}, kopt::testing::anthropic_body("ok")}});
  auto p = pv::make_provider(kopt::testing::fast_options("anthropic", server.base_url()), kopt::testing::test_env());
  ASSERT_TRUE(p.ok());
  const auto reply = ask(**p);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(reply.attempts, 2);
}
