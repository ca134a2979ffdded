#pragma once
// The files provider: writes each prompt to INBOX/NNNN.prompt.md and takes the reply from
// INBOX/NNNN.reply.md or NNNN.reply.py once it is complete. Private to the layer;
// make_provider() builds it (after creating the inbox).
#include <memory>
#include <string>
#include <vector>

#include "kopt/providers/factory.hpp"
#include "kopt/providers/provider.hpp"

namespace kopt::providers {

// Uses options.inbox (must exist), wait, reply_timeout, settle, poll_interval,
// status_interval, should_stop, on_waiting and model. `secrets` are replaced by
// "[REDACTED]" in the prompt files (stored files never hold a secret value).
std::unique_ptr<Provider> make_files_provider(const ProviderOptions& options, std::vector<std::string> secrets);

}  // namespace kopt::providers
