#include "kopt/providers/provider.hpp"

namespace kopt::providers {

const char* reply_outcome_name(ReplyOutcome outcome) {
  switch (outcome) {
    case ReplyOutcome::ok: return "ok";
    case ReplyOutcome::truncated: return "truncated";
    case ReplyOutcome::refused: return "refused";
    case ReplyOutcome::empty: return "empty";
    case ReplyOutcome::malformed: return "malformed";
    case ReplyOutcome::bad_request: return "bad_request";
    case ReplyOutcome::auth_failed: return "auth_failed";
    case ReplyOutcome::rate_limited: return "rate_limited";
    case ReplyOutcome::server_error: return "server_error";
    case ReplyOutcome::connection_failed: return "connection_failed";
    case ReplyOutcome::timed_out: return "timed_out";
    case ReplyOutcome::exec_failed: return "exec_failed";
    case ReplyOutcome::skipped: return "skipped";
    case ReplyOutcome::pending: return "pending";
  }
  return "unknown";
}

bool has_text(ReplyOutcome outcome) {
  return outcome == ReplyOutcome::ok || outcome == ReplyOutcome::truncated;
}

}  // namespace kopt::providers
