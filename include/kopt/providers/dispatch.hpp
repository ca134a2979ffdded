#pragma once
// Sends a batch of requests through a Provider, several in flight at once, under a
// budget, saving every exchange.
#include <vector>

#include "kopt/providers/accounting.hpp"
#include "kopt/providers/provider.hpp"
#include "kopt/providers/transcript.hpp"

namespace kopt::providers {

struct DispatchSettings {
  int in_flight = 1;            // requests sent at once (threads), >= 1
  long long max_output_tokens = 8192;  // for budget reservations
};

// Sends `requests`, at most settings.in_flight at once. Before each request the budget
// (if any) must admit it; after, its usage and cost are recorded in the reply and the
// budget, and the exchange is saved to `transcript` (if any). A request not sent gets
// outcome `skipped`: the budget ran out, or an earlier request failed authentication
// (no point sending more with a bad key). Replies come back in request order.
std::vector<Reply> dispatch(Provider& provider, const std::vector<Request>& requests,
                            const DispatchSettings& settings, Budget* budget,
                            const Transcript* transcript);

}  // namespace kopt::providers
