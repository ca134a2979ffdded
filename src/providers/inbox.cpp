// The files provider's inbox: names, the prompt layout, and the list of prompts
// without replies (for `kopt report` and the waiting status).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>

#include "kopt/providers/files.hpp"

namespace kopt::providers {

namespace {

std::string numbered(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "%04d", index);
  return name;
}

// The index in "NNNN<suffix>", or -1 for any other name (temporary files, backups, dot files).
int index_of(const std::string& name, const std::string& suffix) {
  if (name.size() < suffix.size() + 4 || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = name.substr(0, name.size() - suffix.size());
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  const int index = std::stoi(digits);
  return numbered(index) == digits ? index : -1;  // only the names kopt writes: 0001, not 01 or 00001
}

double seconds_since(const struct timespec& then) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  const double s = static_cast<double>(now.tv_sec - then.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec - then.tv_nsec);
  return std::max(s, 0.0);
}

}  // namespace

std::string prompt_file_name(int index) { return numbered(index) + ".prompt.md"; }
std::string reply_md_name(int index) { return numbered(index) + ".reply.md"; }
std::string reply_py_name(int index) { return numbered(index) + ".reply.py"; }

std::string prompt_file_text(const std::string& system, const std::string& user) {
  std::string text = "# System\n\n" + system + "\n\n# User\n\n" + user;
  if (text.back() != '\n') text.push_back('\n');
  return text;
}

Result<std::vector<PendingPrompt>> pending_prompts(const std::string& inbox) {
  DIR* dir = opendir(inbox.c_str());
  if (!dir) {
    if (errno == ENOENT) return std::vector<PendingPrompt>{};
    return Failure{"io", "cannot read " + inbox + ": " + std::strerror(errno)};
  }
  std::set<int> prompts, replies;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (const int i = index_of(name, ".prompt.md"); i >= 0) prompts.insert(i);
    if (const int i = index_of(name, ".reply.md"); i >= 0) replies.insert(i);
    if (const int i = index_of(name, ".reply.py"); i >= 0) replies.insert(i);
  }
  closedir(dir);
  std::vector<PendingPrompt> pending;
  for (const int index : prompts) {
    if (replies.count(index)) continue;
    PendingPrompt p;
    p.index = index;
    p.path = inbox + "/" + prompt_file_name(index);
    struct stat st {};
    if (stat(p.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    p.waited_s = seconds_since(st.st_mtim);
    pending.push_back(std::move(p));
  }
  return pending;
}

}  // namespace kopt::providers
