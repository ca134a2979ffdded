#include "kopt/sandbox/isolation.hpp"

#include <pwd.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ftw.h>
#include <fstream>
#include <vector>

namespace kopt::sandbox {

std::optional<UserIds> candidate_user() {
  if (geteuid() != 0) return std::nullopt;
  const char* name = std::getenv("KOPT_SANDBOX_USER");
  const std::string user = name && *name ? name : "nobody";
  const passwd* pw = getpwnam(user.c_str());
  if (!pw || pw->pw_uid == 0) return std::nullopt;
  return UserIds{pw->pw_uid, pw->pw_gid, user};
}

std::string temp_root() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

std::string sandbox_parent(const std::string& work_dir) { return work_dir.empty() ? temp_root() : work_dir; }

Result<std::string> make_temp_dir(const std::string& parent, const std::string& prefix) {
  std::string templ = parent + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) return Failure{"io", "cannot create a directory in " + parent + ": " + strerror(errno)};
  return std::string(buf.data());
}

namespace {
const char* const kSandboxDirs[] = {"", "/cache", "/cache/triton", "/cache/inductor", "/cache/torch_extensions",
                                    "/cache/nv", "/tmp"};
}  // namespace

Status prepare_sandbox(const std::string& dir, const std::optional<UserIds>& owner) {
  for (const char* sub : kSandboxDirs) {
    const std::string path = dir + sub;
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return Failure{"io", "cannot create " + path + ": " + strerror(errno)};
    // A sandbox kept from an earlier evaluation (keep_only_builds) was the candidate's to
    // change: chown follows links, so what is there must be a directory, not a link to one.
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Failure{"io", path + " is not a directory"};
    if (owner && chown(path.c_str(), owner->uid, owner->gid) != 0)
      return Failure{"io", "cannot hand " + path + " to " + owner->name + ": " + strerror(errno)};
  }
  return Status{};
}

Status write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return Failure{"io", "cannot write " + path};
  chmod(path.c_str(), 0644);
  return Status{};
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  remove(path);
  return 0;
}
}  // namespace

// POSIX nftw, not std::filesystem: a pip-installed libtorch.so exports its own
// std::filesystem symbols, which interpose on ours and crash (seen with torch 2.11).
void remove_tree(const std::string& path) {
  nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
int remove_if_lock(const char* path, const struct stat*, int type, struct FTW* ftw) {
  if (type == FTW_F && std::string(path + ftw->base) == "lock") remove(path);
  return 0;
}
}  // namespace

bool is_kept_sandbox(const std::string& path, const std::string& parent) {
  if (path.empty() || path[0] != '/' || parent.empty()) return false;
  const size_t slash = path.find_last_of('/');
  const std::string name = path.substr(slash + 1), dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string prefix = kEvalSandboxPrefix;
  if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size()) return false;
  char* a = realpath(dir.c_str(), nullptr);
  char* b = realpath(parent.c_str(), nullptr);
  const bool same_parent = a && b && std::string(a) == std::string(b);
  std::free(a);
  std::free(b);
  if (!same_parent) return false;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) return false;
  struct stat cache {};
  return lstat((path + "/candidate/cache").c_str(), &cache) == 0 && S_ISDIR(cache.st_mode);
}

void keep_only_builds(const std::string& root) {
  // The candidate could replace any folder of its sandbox with a link (to /etc, say), and
  // kopt, perhaps root, creates, chowns and walks these folders again when the sandbox is
  // reused: whatever is not a real directory where prepare_sandbox expects one goes.
  for (const char* sub : kSandboxDirs) {
    const std::string path = root + "/candidate" + sub;
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) remove_tree(path);
  }
  for (const auto& name : list_dir(root)) {
    if (name != "candidate") {
      remove_tree(root + "/" + name);
      continue;
    }
    for (const auto& inner : list_dir(root + "/candidate"))
      if (inner != "cache") remove_tree(root + "/candidate/" + inner);
  }
  // torch's build lock (TORCH_EXTENSIONS_DIR/pyXY_cuZZ/NAME/lock): one left by a worker
  // killed mid-build would make the next import wait for it forever.
  const std::string ext = root + "/candidate/cache/torch_extensions";
  nftw(ext.c_str(), remove_if_lock, 16, FTW_PHYS);
}

}  // namespace kopt::sandbox
