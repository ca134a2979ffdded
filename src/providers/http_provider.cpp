#include "http_provider.hpp"

#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "kopt/providers/transcript.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::providers {

namespace {

nlohmann::json headers_json(const Headers& headers) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : headers) out[name] = value;
  return out;
}

double jitter() {
  thread_local std::mt19937 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// A body for the transcript: parsed JSON when it is JSON, else the (capped) text.
nlohmann::json body_record(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  constexpr size_t kMax = 64 * 1024;
  return body.size() > kMax ? body.substr(0, kMax) + "...[truncated]" : body;
}

}  // namespace

void settle_text_reply(Reply& reply, const std::string& length_reason, const char* reason_field,
                       int max_tokens) {
  if (reply.text.empty()) {
    reply.outcome = ReplyOutcome::empty;
    reply.message = std::string("the reply has no text (") + reason_field + ": " +
                    (reply.finish_reason.empty() ? std::string("none") : reply.finish_reason) + ")";
    return;
  }
  if (reply.finish_reason == length_reason) {
    reply.outcome = ReplyOutcome::truncated;
    reply.message = "the reply hit the output limit (" + std::to_string(max_tokens) + " tokens) and may be cut off";
    return;
  }
  reply.outcome = ReplyOutcome::ok;
}

std::string server_message(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  std::string text;
  if (parsed.is_object()) {
    const auto it = parsed.find("error");
    if (it != parsed.end() && it->is_object() && it->contains("message") && (*it)["message"].is_string())
      text = (*it)["message"].get<std::string>();
    else if (it != parsed.end() && it->is_string())
      text = it->get<std::string>();
    else if (parsed.contains("message") && parsed["message"].is_string())
      text = parsed["message"].get<std::string>();
  }
  if (text.empty()) text = body.substr(0, 300);
  text = util::strip_control(text);
  for (auto& ch : text)
    if (ch == '\n' || ch == '\t') ch = ' ';
  if (text.size() > 500) text = text.substr(0, 500) + "...";
  return text.empty() ? "(empty body)" : text;
}

HttpProvider::HttpProvider(std::unique_ptr<Protocol> protocol, std::string model, std::string key,
                           const ProviderOptions& options)
    : m_protocol(std::move(protocol)),
      m_model(std::move(model)),
      m_key(std::move(key)),
      m_retry{options.max_retries, options.backoff_base, options.backoff_max, options.max_retry_after},
      m_connect_timeout(options.connect_timeout),
      m_timeout(options.timeout),
      m_should_stop(options.should_stop) {}

std::vector<std::string> HttpProvider::secrets() const {
  if (m_key.empty()) return {};
  return {m_key};
}

void HttpProvider::classify_failure(const HttpResponse& response, Reply& reply) const {
  const int status = response.status;
  const std::string what = "HTTP " + std::to_string(status) + ": " + server_message(response.body);
  if (status == 401 || status == 403) {
    reply.outcome = ReplyOutcome::auth_failed;
    reply.message = what + " (check " + m_protocol->key_variable() + (m_key.empty() ? ", which is not set)" : ")");
  } else if (status == 429) {
    reply.outcome = ReplyOutcome::rate_limited;
    reply.message = what;
  } else if (status >= 500 || status == 408) {  // 408: the server timed out waiting (retried)
    reply.outcome = ReplyOutcome::server_error;
    reply.message = what;
  } else {
    reply.outcome = ReplyOutcome::bad_request;
    reply.message = what;
  }
}

Reply HttpProvider::complete(const Request& request) {
  Reply reply;
  reply.index = request.index;
  HttpRequest http;
  http.url = m_protocol->url();
  http.headers = m_protocol->headers(false);
  const nlohmann::json body = m_protocol->body(request);
  http.body = util::dump_json(body);
  http.connect_timeout = m_connect_timeout;
  http.total_timeout = m_timeout;
  http.should_stop = m_should_stop;
  reply.exchange["request"] = {{"method", "POST"},
                               {"url", http.url},
                               {"headers", mask_credential_headers(headers_json(m_protocol->headers(true)))},
                               {"body", body}};
  nlohmann::json attempts = nlohmann::json::array();
  HttpResponse response;
  nlohmann::json parsed;  // the 2xx body, parsed once for the reply and the transcript
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    ++reply.attempts;
    spdlog::debug("Request sent. [index: {}, provider: {}, model: {}, attempt: {}, bytes: {}]", request.index,
                  name(), m_model, reply.attempts, http.body.size());
    response = http_post(http);
    reply.http_status = response.status;
    nlohmann::json attempt = {{"status", response.status}, {"elapsed_s", response.elapsed_s}};
    if (response.error != TransportError::none) attempt["error"] = response.error_message;
    if (response.retry_after_s) attempt["retry_after_s"] = *response.retry_after_s;
    if (response.error == TransportError::stopped) {
      // Not an answer: the request stays pending, asked again on --resume.
      attempts.push_back(attempt);
      reply.outcome = ReplyOutcome::pending;
      reply.message = "not answered: kopt was stopped while the request was in flight (asked again on --resume)";
      break;
    }
    if (response.error != TransportError::none) {
      attempts.push_back(attempt);
      reply.outcome = response.error == TransportError::timed_out ? ReplyOutcome::timed_out
                                                                   : ReplyOutcome::connection_failed;
      reply.message = response.error_message;
      break;
    }
    if (response.status >= 200 && response.status < 300) {
      attempts.push_back(attempt);
      // A body with bytes that are not UTF-8 inside its strings is still the server's reply:
      // they become U+FFFD (the JSON parser rejected the whole reply as "not a JSON object").
      parsed = nlohmann::json::parse(util::valid_utf8(response.body) ? response.body : util::to_valid_utf8(response.body),
                                     nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        reply.outcome = ReplyOutcome::malformed;
        reply.message = "HTTP " + std::to_string(response.status) + " with a body that is not a JSON object (" +
                        std::to_string(response.body.size()) + " bytes): " + server_message(response.body);
      } else {
        try {
          m_protocol->parse(parsed, reply);
        } catch (const nlohmann::json::exception&) {  // a field of an unexpected type: the reply is malformed
          reply.text.clear();
          reply.finish_reason.clear();
          reply.usage = Usage{};
          reply.outcome = ReplyOutcome::malformed;
          reply.message = "HTTP " + std::to_string(response.status) + " with a reply of an unexpected shape";
        }
      }
      break;
    }
    const RetryDecision decision =
        decide_retry(m_retry, reply.attempts, response.status, response.retry_after_s, jitter());
    classify_failure(response, reply);
    if (!decision.retry) {
      attempts.push_back(attempt);
      if (is_retryable_status(response.status)) reply.message += " (" + decision.reason + ")";
      break;
    }
    attempt["retry_in_s"] = decision.delay.count() / 1000.0;
    attempts.push_back(attempt);
    spdlog::info("Retrying. [index: {}, status: {}, in: {}, attempt: {}/{}]", request.index, response.status,
                 util::format_seconds(decision.delay.count() / 1000.0), reply.attempts + 1, m_retry.max_retries + 1);
    // The wait before a retry, in slices, so that a stop is not kept waiting.
    const auto until = std::chrono::steady_clock::now() + decision.delay;
    while (std::chrono::steady_clock::now() < until && !(m_should_stop && m_should_stop()))
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(100),
                                                                                until - std::chrono::steady_clock::now()));
  }
  reply.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  reply.exchange["response"] = {{"status", response.status},
                                {"headers", headers_json(response.headers)},
                                {"body", parsed.is_object() ? std::move(parsed) : body_record(response.body)},
                                {"attempts", attempts}};
  spdlog::debug("Reply received. [index: {}, outcome: {}, status: {}, elapsed: {}]", request.index,
                reply_outcome_name(reply.outcome), response.status, util::format_seconds(reply.elapsed_s));
  return reply;
}

}  // namespace kopt::providers
