#include "kopt/sandbox/isolation.hpp"

#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

Result<std::string> make_temp_dir(const std::string& parent, const std::string& prefix) {
  std::string templ = parent + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) return Failure{"io", "cannot create a directory in " + parent + ": " + strerror(errno)};
  return std::string(buf.data());
}

Status prepare_sandbox(const std::string& dir, const std::optional<UserIds>& owner) {
  for (const char* sub : {"", "/cache", "/cache/triton", "/cache/inductor", "/cache/torch_extensions",
                          "/cache/nv", "/tmp"}) {
    const std::string path = dir + sub;
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return Failure{"io", "cannot create " + path + ": " + strerror(errno)};
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

}  // namespace kopt::sandbox
