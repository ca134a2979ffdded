#pragma once
// Per-worker directories and the user a candidate runs as.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::sandbox {

struct UserIds {
  uid_t uid;
  gid_t gid;
  std::string name;
};

// When kopt runs as root: the unprivileged user candidates run as ("nobody", or the
// user named by KOPT_SANDBOX_USER). Otherwise nullopt: candidates run as kopt's user,
// which cannot read kopt's memory because kopt is non-dumpable.
std::optional<UserIds> candidate_user();

// Creates a fresh private directory under `parent` (mkdtemp, mode 0700).
Result<std::string> make_temp_dir(const std::string& parent, const std::string& prefix);

// Creates `dir` with the cache sub-folders a worker needs (see sandbox_variables),
// owned by `owner` when given. Failure kind: "io".
Status prepare_sandbox(const std::string& dir, const std::optional<UserIds>& owner);

// Writes `content` to `path` (mode 0644). Failure kind: "io".
Status write_file(const std::string& path, const std::string& content);

// Removes a directory tree; errors are ignored (best effort clean-up).
void remove_tree(const std::string& path);

// The names in a directory (no "." or ".."), sorted; empty when it cannot be read.
std::vector<std::string> list_dir(const std::string& dir);

// Empties an evaluation's sandbox `root` except the candidate's build caches
// (root/candidate/cache), and removes torch's build locks there (best effort).
void keep_only_builds(const std::string& root);

// Whether `path` is an evaluation sandbox kopt kept with its build caches (keep_only_builds)
// under `parent`: a real directory (no link) named kopt-eval-*, directly in `parent`,
// owned by this user, holding candidate/cache. A run folder names one for a later session;
// the check keeps a damaged or edited record from handing kopt some other folder, which
// reuse would empty.
bool is_kept_sandbox(const std::string& path, const std::string& parent);

// The directory for temporary files: $TMPDIR or /tmp.
std::string temp_root();

// Evaluation sandboxes: made as PARENT/kopt-eval-XXXXXX, PARENT being the --work-dir
// given, else temp_root(). is_kept_sandbox checks a kept one against the same two.
inline constexpr const char* kEvalSandboxPrefix = "kopt-eval-";
std::string sandbox_parent(const std::string& work_dir);

}  // namespace kopt::sandbox
