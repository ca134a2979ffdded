#pragma once
// The `files` provider's inbox: each request is written as INBOX/NNNN.prompt.md and its
// reply is read from INBOX/NNNN.reply.md (a chat-style answer) or INBOX/NNNN.reply.py (a
// bare candidate). A person with a chat window or another tool answers. These helpers
// name and list the files; make_provider({.kind = "files"}) builds the provider.
// POSIX calls, not std::filesystem (a pip libtorch.so interposes it).
#include <string>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::providers {

// "0001.prompt.md", "0001.reply.md", "0001.reply.py" (4 digits, more past 9999).
std::string prompt_file_name(int index);
std::string reply_md_name(int index);
std::string reply_py_name(int index);

// The prompt file's text, exactly:
//   "# System\n\n" + system + "\n\n# User\n\n" + user [+ "\n" unless user ends with one]
std::string prompt_file_text(const std::string& system, const std::string& user);

// A prompt still waiting for its reply.
struct PendingPrompt {
  int index = 0;
  std::string path;       // INBOX/NNNN.prompt.md
  double waited_s = 0;    // since the prompt file was written (its mtime)
};

// Prompts in `inbox` with neither NNNN.reply.md nor NNNN.reply.py, in index order.
// Other names (temporary files, editor backups, dot files) are ignored. A missing inbox
// has no pending prompts. Failure kind "io": the inbox cannot be read.
Result<std::vector<PendingPrompt>> pending_prompts(const std::string& inbox);

}  // namespace kopt::providers
