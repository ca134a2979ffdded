#pragma once
// The writer's seat: one request (system + user prompt) in, one reply out. An interface
// so tests and the search loop can swap in fakes; real ones come from make_provider().
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kopt::providers {

// What became of one request. Every fault is one of these, never an exception.
enum class ReplyOutcome {
  ok,                 // a complete reply
  truncated,          // the reply hit the output-token limit (text kept, may be cut off)
  refused,            // the model declined (OpenAI message.refusal, Anthropic "refusal")
  empty,              // a well-formed reply without text (no choices, no content)
  malformed,          // the body is not the JSON the protocol promises (or truncated JSON)
  bad_request,        // 4xx other than 401/403/429: the server's message says why; not retried
  auth_failed,        // 401/403: the key is missing or wrong; not retried, stops the batch
  rate_limited,       // 429 after the allowed retries, or a Retry-After beyond the bound
  server_error,       // 5xx after the allowed retries
  connection_failed,  // refused, unresolvable, reset, or closed mid-reply
  timed_out,          // connect timeout, whole-request timeout, or the exec deadline
  exec_failed,        // the exec command could not start or exited non-zero
  skipped,            // not sent: budget exhausted or an earlier request failed authentication
  pending,            // no reply yet and the provider does not wait (files --no-wait): ask again later
};

const char* reply_outcome_name(ReplyOutcome outcome);
// True for outcomes whose text is worth extracting a candidate from (ok, truncated).
bool has_text(ReplyOutcome outcome);

struct Request {
  int index = 0;       // caller-assigned, >= 1; names the transcript files (NNNN)
  std::string system;  // system prompt
  std::string user;    // user prompt
};

struct Usage {
  long long input_tokens = 0;
  long long output_tokens = 0;
  bool reported = false;   // false when the provider gave no counts (exec, failures)
  bool estimated = false;  // counts estimated from the text (~4 characters a token), not reported (files)
};

struct Reply {
  int index = 0;
  ReplyOutcome outcome = ReplyOutcome::ok;
  std::string message;        // one line for a person: what failed, with the server's words
  std::string text;           // the reply text (ok, truncated)
  std::string finish_reason;  // as the server said it: "stop", "length", "end_turn", ...
  Usage usage;
  int http_status = 0;  // last HTTP status seen (0: none, or exec)
  int attempts = 0;     // HTTP attempts made (retries included); 1 for exec
  double elapsed_s = 0;
  double cost_usd = 0;      // filled in by dispatch() from the price table
  bool cost_known = false;  // false when the model is not in the price table
  // {"request": {...}, "response": {...}} as saved in the transcript. Credential headers
  // are already masked; the transcript also redacts known secret values.
  nlohmann::json exchange;
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Sends one request with this provider's retries and deadlines. Never throws for bad
  // data: every fault is a Reply outcome with a message. Thread-safe: dispatch() calls it
  // from several threads at once.
  virtual Reply complete(const Request& request) = 0;
  virtual std::string name() const = 0;   // "openai", "anthropic", "exec", "files"
  virtual std::string model() const = 0;  // as sent to the server (may be empty for exec)
  // Secret values this provider holds (API keys), for redacting transcripts and logs.
  virtual std::vector<std::string> secrets() const { return {}; }
};

}  // namespace kopt::providers
