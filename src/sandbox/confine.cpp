#include "kopt/sandbox/confine.hpp"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>

#include "kopt/sandbox/process.hpp"
#include "kopt/util/text.hpp"

namespace kopt::sandbox {

namespace {

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// $KOPT_BWRAP names the binary (a path that does not exist turns bubblewrap off);
// else the usual places, then PATH.
std::string find_bwrap() {
  if (const char* env = std::getenv("KOPT_BWRAP"); env && *env) return env;
  for (const char* p : {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"})
    if (executable(p)) return p;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && dir[0] == '/' && executable(dir + "/bwrap")) return dir + "/bwrap";
  return "";
}

// Runs `s` to its end (`seconds` at most): its exit and the last line of its stderr.
std::pair<ExitInfo, std::string> run_briefly(const SpawnSpec& s, int seconds, Failure* failure) {
  auto child = Child::spawn(s);
  if (!child) {
    *failure = child.failure();
    return {ExitInfo{}, ""};
  }
  std::string err;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::optional<ExitInfo> info;
  char buf[512];
  while (!(info = child->try_wait()) && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = read(child->stderr_fd(), buf, sizeof buf);
    if (n > 0 && err.size() < 2000) err.append(buf, static_cast<size_t>(n));
    usleep(2000);
  }
  if (!info) info = child->terminate(std::chrono::milliseconds(0));
  for (ssize_t n; (n = read(child->stderr_fd(), buf, sizeof buf)) > 0 && err.size() < 2000;)
    err.append(buf, static_cast<size_t>(n));
  return {*info, util::strip_control(util::tail_lines(err, 1))};
}

// argv as `user` (kopt's own when nullopt), in /, with `env`.
SpawnSpec as_user(std::vector<std::string> argv, std::vector<std::string> env, const std::optional<UserIds>& user) {
  SpawnSpec s;
  s.argv = std::move(argv);
  s.env = std::move(env);
  s.cwd = "/";
  if (user) {
    s.uid = user->uid;
    s.gid = user->gid;
  }
  return s;
}

BwrapProbe run_probe(const std::optional<UserIds>& user) {
  BwrapProbe probe;
  probe.path = find_bwrap();
  if (probe.path.empty()) {
    probe.why = "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)";
    return probe;
  }
  if (!executable(probe.path)) {
    probe.why = "bubblewrap at " + probe.path + " cannot be run (KOPT_BWRAP, or apt-get install bubblewrap)";
    return probe;
  }
  std::string pid_err;
  for (const bool own_pids : {true, false}) {
    ConfineSpec spec;
    spec.host_pids = !own_pids;
    auto argv = bwrap_prefix(probe.path, spec);
    argv.push_back("/bin/true");
    Failure failure;
    const auto [info, err] = run_briefly(as_user(std::move(argv), {"PATH=/usr/bin:/bin"}, user), 10, &failure);
    if (!failure.kind.empty() || !failure.message.empty()) {
      probe.why = "bubblewrap could not be started: " + failure.message;
      return probe;
    }
    if (info.exited && info.code == 0) {
      probe.works = true;
      probe.pid_namespace = own_pids;
      if (!own_pids) probe.pid_why = "bubblewrap cannot make a PID namespace with a /proc of its own here (" + pid_err + ")";
      return probe;
    }
    if (own_pids) {
      pid_err = err.empty() ? info.describe() : err;
      continue;
    }
    probe.why = "bubblewrap cannot create namespaces here (" + (err.empty() ? info.describe() : err) +
                "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
                "user.max_user_namespaces > 0; on Ubuntu an AppArmor profile for bwrap)";
  }
  return probe;
}

}  // namespace

BwrapProbe probe_bwrap(const std::optional<UserIds>& user) {
  static std::mutex mutex;
  static std::map<std::string, BwrapProbe> probed;
  const std::string key = (user ? std::to_string(user->uid) : std::string("self")) + '\0' + find_bwrap();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = probed.find(key); it != probed.end()) return it->second;
  return probed[key] = run_probe(user);
}

std::vector<std::string> bwrap_prefix(const std::string& bwrap, const ConfineSpec& spec) {
  std::vector<std::string> argv = {bwrap, "--unshare-net", "--die-with-parent"};
  if (spec.writable_root) argv.insert(argv.end(), {"--dev-bind", "/", "/"});
  else argv.insert(argv.end(), {"--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev"});
  if (spec.proc_sys_rw) argv.insert(argv.end(), {"--dev-bind", "/proc", "/proc", "--dev-bind", "/sys", "/sys"});
  // Its own processes only: another process's /proc/PID/cmdline or environ (kopt's, the
  // user's shells) stays out of reach. bwrap's init reaps inside; kopt sees host PIDs.
  else if (!spec.host_pids) argv.insert(argv.end(), {"--unshare-pid", "--proc", "/proc"});
  // /tmp on disk inside the sandbox, not in memory: a tmpfs would let a candidate fill
  // the host's memory with files (bubblewrap's --size is too new for Ubuntu 22.04).
  if (spec.host_tmp) {
    argv.insert(argv.end(), {"--bind", "/tmp", "/tmp"});
  } else if (spec.tmp.empty()) {
    argv.insert(argv.end(), {"--tmpfs", "/tmp"});
  } else {
    argv.insert(argv.end(), {"--bind", spec.tmp, "/tmp"});
  }
  argv.insert(argv.end(), {"--tmpfs", "/run"});  // sockets of system services
  std::vector<std::string> hidden = {"/run"};
  for (const auto& dir : spec.hidden) {
    struct stat st;
    if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      argv.insert(argv.end(), {"--tmpfs", dir});
      hidden.push_back(dir);
    }
  }
  // Mounts that come later sit on top: what must stay visible inside a hidden directory
  // (or /tmp) is bound again, the sandbox last and writable.
  for (const auto& dir : spec.readable) argv.insert(argv.end(), {"--ro-bind", dir, dir});
  if (!spec.writable.empty()) argv.insert(argv.end(), {"--bind", spec.writable, spec.writable});
  // A hidden directory stays empty and read-only (the mounts on top of it keep theirs):
  // a write there fails as it would on the host, instead of landing in a throw-away tmpfs.
  for (const auto& dir : hidden) argv.insert(argv.end(), {"--remount-ro", dir});
  return argv;
}

namespace {

// cuInit through ctypes: exit 0 when CUDA initializes, else its error on stderr.
const char* kCudaCheck = R"(import ctypes, sys
try:
    lib = ctypes.CDLL("libcuda.so.1")
except OSError as exc:
    sys.stderr.write("the driver library cannot be loaded (%s)\n" % exc); sys.exit(2)
rc = lib.cuInit(0)
if rc:
    name = ctypes.c_char_p(); lib.cuGetErrorName(rc, ctypes.byref(name))
    sys.stderr.write("cuInit returned %s (%d)\n" % (name.value.decode() if name.value else "an unknown error", rc))
    sys.exit(1)
)";

// CUDA IPC across the sandbox's PID namespace, as the comparer uses it: the importer
// (outside, argv[1:] is the sandboxed exporter's command line) opens memory the exporter
// allocated and set, and reads it back. Exit 0: it read the pattern; 1: the exporter
// worked and the import failed (its error on stderr); 2: the exporter failed.
const char* kIpcExport = R"(import ctypes, sys
lib = ctypes.CDLL("libcuda.so.1")
def ck(rc, what):
    if rc:
        sys.stderr.write("%s returned %d\n" % (what, rc)); sys.exit(1)
ck(lib.cuInit(0), "cuInit")
dev, ctx, ptr = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_uint64()
ck(lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
ck(lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
ck(lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
ck(lib.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(1 << 21)), "cuMemAlloc")
ck(lib.cuMemsetD32_v2(ctypes.c_uint64(ptr.value), ctypes.c_uint(0x6b6f7074), ctypes.c_size_t(1)), "cuMemsetD32")
ck(lib.cuCtxSynchronize(), "cuCtxSynchronize")
handle = (ctypes.c_char * 64)()
ck(lib.cuIpcGetMemHandle(handle, ctypes.c_uint64(ptr.value)), "cuIpcGetMemHandle")
sys.stdout.write(ctypes.string_at(handle, 64).hex() + "\n"); sys.stdout.flush()
sys.stdin.readline()
)";
const char* kIpcImport = R"(import ctypes, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
line = p.stdout.readline().strip()
if len(line) != 128:
    p.kill(); sys.stderr.write("the exporter failed: %s\n" % p.stderr.read().decode(errors="replace").strip()[-200:]); sys.exit(2)
class Handle(ctypes.Structure):
    _fields_ = [("reserved", ctypes.c_char * 64)]
lib = ctypes.CDLL("libcuda.so.1")
def ck(rc, what):
    if rc:
        name = ctypes.c_char_p(); lib.cuGetErrorName(rc, ctypes.byref(name))
        sys.stderr.write("%s returned %s (%d)\n" % (what, name.value.decode() if name.value else "an error", rc))
        p.kill(); sys.exit(1)
ck(lib.cuInit(0), "cuInit")
dev, ctx, ptr, got = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_uint64(), ctypes.c_uint32()
ck(lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
ck(lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
ck(lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
h = Handle(); ctypes.memmove(ctypes.addressof(h), bytes.fromhex(line.decode()), 64)
lib.cuIpcOpenMemHandle_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), Handle, ctypes.c_uint]
ck(lib.cuIpcOpenMemHandle_v2(ctypes.byref(ptr), h, 1), "cuIpcOpenMemHandle")
ck(lib.cuMemcpyDtoH_v2(ctypes.byref(got), ctypes.c_uint64(ptr.value), ctypes.c_size_t(4)), "cuMemcpyDtoH")
lib.cuIpcCloseMemHandle(ctypes.c_uint64(ptr.value))
p.stdin.write(b"\n"); p.stdin.flush(); p.wait()
if got.value != 0x6b6f7074:
    sys.stderr.write("CUDA IPC read %#x, not the exporter's pattern\n" % got.value); sys.exit(1)
)";

struct Loosening {
  const char* what;
  bool proc_sys_rw, host_tmp, writable_root, host_pids;
};
// Least loosened first; each file system loosening is tried with a PID namespace of its
// own before without one.
const Loosening kLoosenings[] = {
    {"", false, false, false, false},
    {"the host's PID namespace", false, false, false, true},
    {"/proc and /sys as on the host (and its PID namespace)", true, false, false, true},
    {"the host's /tmp (CUDA's MPS pipes live there)", false, true, false, false},
    {"the host's /tmp and PID namespace", false, true, false, true},
    {"a writable root file system", false, false, true, false},
    {"a writable root file system and the host's PID namespace", false, false, true, true},
    {"a writable root file system and the host's /tmp", false, true, true, false},
    {"a writable root file system, the host's /tmp and PID namespace", false, true, true, true},
};

ConfineSpec loosen(ConfineSpec spec, const Loosening& l) {
  spec.proc_sys_rw = l.proc_sys_rw;
  spec.host_tmp = l.host_tmp;
  spec.writable_root = l.writable_root;
  spec.host_pids = spec.host_pids || l.host_pids;  // where bubblewrap could make none, none is tried
  return spec;
}

}  // namespace

CudaFit fit_bwrap_to_cuda(const std::string& bwrap, const ConfineSpec& base, const std::optional<UserIds>& user,
                          const std::string& python, const std::vector<std::string>& env) {
  struct Found {
    int index = -1;  // into kLoosenings; -1: none works
    std::string why;
    std::string ipc_why;  // why the host's PID namespace was taken for CUDA IPC
  };
  static std::mutex mutex;
  static std::map<std::string, Found> found;
  const std::string key = (user ? std::to_string(user->uid) : std::string("self")) + '\0' + python + '\0' + bwrap;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = found.find(key);
  if (it == found.end()) {
    // Runs argv as the candidate's user: its exit code (-1: it did not exit), and in
    // *err its error (the last line of its stderr, or how it ended).
    auto run = [&](std::vector<std::string> argv, std::string* err) {
      Failure failure;
      const auto [info, text] = run_briefly(as_user(std::move(argv), env, user), 30, &failure);
      *err = failure.message.empty() ? (text.empty() ? info.describe() : text) : failure.message;
      return failure.message.empty() && info.exited ? info.code : -1;
    };
    auto check = [&](std::vector<std::string> argv, std::string* err) {
      for (const auto& a : {python, std::string("-c"), std::string(kCudaCheck)}) argv.push_back(a);
      return run(std::move(argv), err) == 0;
    };
    // The comparer maps candidate memory through CUDA IPC: exit 0 where that works
    // across the sandbox `prefix` makes, 1 where only the import failed, else another.
    auto ipc = [&](const std::vector<std::string>& prefix, std::string* err) {
      std::vector<std::string> argv = {python, "-c", kIpcImport};
      argv.insert(argv.end(), prefix.begin(), prefix.end());
      for (const auto& a : {python, std::string("-c"), std::string(kIpcExport)}) argv.push_back(a);
      return run(std::move(argv), err);
    };
    Found f;
    std::string err;
    if (!check({}, &err)) {
      f.index = 0;  // CUDA fails outside bubblewrap too: not bubblewrap's doing
    } else {
      for (int i = 0; i < static_cast<int>(std::size(kLoosenings)); ++i) {
        std::string e;
        if (check(bwrap_prefix(bwrap, loosen(base, kLoosenings[i])), &e)) {
          f.index = i;
          break;
        }
        if (i == 0) f.why = e;
      }
      // A PID namespace of its own may cost CUDA IPC (the driver names processes by
      // PID). It is kept on CUDA only where IPC is seen to work across it; else the same
      // sandbox in the host's PID namespace, as before kopt made one.
      const int i = f.index;
      if (i >= 0 && !kLoosenings[i].host_pids && !base.host_pids && ipc(bwrap_prefix(bwrap, loosen(base, kLoosenings[i])), &err) != 0) {
        for (int j = i + 1; j < static_cast<int>(std::size(kLoosenings)); ++j) {
          const auto& a = kLoosenings[i];
          const auto& b = kLoosenings[j];
          if (!b.host_pids || a.proc_sys_rw != b.proc_sys_rw || a.host_tmp != b.host_tmp || a.writable_root != b.writable_root)
            continue;
          std::string e;
          if (check(bwrap_prefix(bwrap, loosen(base, b)), &e)) {
            f.index = j;
            f.ipc_why = err;
          }
          break;
        }
      }
    }
    it = found.emplace(key, f).first;
  }
  CudaFit fit;
  fit.why = it->second.why;
  if (it->second.index < 0) return fit;
  fit.works = true;
  fit.spec = loosen(base, kLoosenings[it->second.index]);
  fit.loosened = kLoosenings[it->second.index].what;
  if (!it->second.ipc_why.empty()) {
    const std::string ipc = "CUDA IPC across a PID namespace was not seen to work: " + it->second.ipc_why;
    if (fit.why.empty()) fit.why = ipc;
    else fit.loosened += " (" + ipc + ")";
  }
  return fit;
}

long tasks_of_user(uid_t uid) {
  long tasks = 0;
  DIR* dir = opendir("/proc");
  if (!dir) return 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream status("/proc/" + std::string(entry->d_name) + "/status");
    long real_uid = -1, threads = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Uid:", 0) == 0) real_uid = std::atol(line.c_str() + 4);
      if (line.rfind("Threads:", 0) == 0) threads = std::atol(line.c_str() + 8);
    }
    if (real_uid == static_cast<long>(uid)) tasks += threads;
  }
  closedir(dir);
  return tasks;
}

std::vector<std::string> private_homes() {
  std::vector<std::string> homes;
  auto add = [&](const std::string& dir) {
    char resolved[PATH_MAX];
    if (dir.empty() || !realpath(dir.c_str(), resolved)) return;
    const std::string real = resolved;
    if (real == "/") return;
    for (const auto& h : homes)
      if (h == real) return;
    homes.push_back(real);
  };
  if (const char* home = std::getenv("HOME")) add(home);
  if (const passwd* pw = getpwuid(getuid())) add(pw->pw_dir);
  return homes;
}

}  // namespace kopt::sandbox
