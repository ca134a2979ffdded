#pragma once
// Confinement of candidate workers beyond a scrubbed environment: bubblewrap (no
// network, a read-only file system with the sandbox writable, the user's home hidden)
// and resource limits. Each layer is used where the machine allows it and reported as
// active or unavailable with the reason (docs/ARCHITECTURE.md, "Candidate isolation").
#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "kopt/sandbox/isolation.hpp"

namespace kopt::sandbox {

// One confinement layer and whether it is in force for a candidate.
struct Layer {
  std::string name;    // user, network, filesystem, processes, limits, gpu_memory
  bool active = false;
  std::string detail;  // what it does when active; why it is not, otherwise
};

// A resource limit set in the child before exec (soft and hard alike).
struct ResourceLimit {
  int resource;  // RLIMIT_*
  rlim_t value;
};

// Whether bubblewrap creates the namespaces kopt uses, as `user` (kopt's own when
// nullopt). Tried once per user and cached (thread-safe): spawns
// `bwrap --unshare-net --ro-bind / / ... --unshare-pid --proc /proc /bin/true`, and where
// that fails the same without the PID namespace (a container's masked /proc refuses a
// new procfs mount); 10 s at most each.
struct BwrapProbe {
  bool works = false;
  bool pid_namespace = false;  // with a PID namespace and /proc of its own
  std::string path;  // the bwrap binary ($KOPT_BWRAP, else /usr/bin/bwrap, ... ); empty: none
  std::string why;   // when !works: one line with the cause and the fix
  std::string pid_why;  // when works && !pid_namespace: bubblewrap's error for the PID namespace
};
BwrapProbe probe_bwrap(const std::optional<UserIds>& user);

// What the candidate may see and write under bubblewrap.
struct ConfineSpec {
  std::string writable;               // the candidate's sandbox directory (HOME, caches, TMPDIR)
  std::string tmp;                    // bound as /tmp (on disk, in the sandbox); empty: a tmpfs
  std::vector<std::string> readable;  // kept visible where hidden below (harness, Python's prefix)
  std::vector<std::string> hidden;    // replaced by an empty read-only tmpfs (the real user's home)
  // Loosened where CUDA cannot initialize in the standard sandbox (fit_bwrap_to_cuda):
  bool proc_sys_rw = false;    // /proc and /sys bound as on the host, not read-only
  bool host_tmp = false;       // the host's /tmp bound writable instead of a private one
  bool writable_root = false;  // / bound as on the host (writable wherever the user may write)
  bool host_pids = false;      // the host's PID namespace and /proc (implied by proc_sys_rw)
};

// The bwrap command line that runs what follows it confined by `spec`: a new network
// namespace (loopback only), / read-only, /dev as it is (CUDA's device nodes), a private
// /tmp (`spec.tmp`), /run and `spec.hidden` emptied and read-only, `spec.writable`
// writable, a PID namespace with a /proc of its own (the candidate sees its own processes
// only; kopt still watches them by host PID); bwrap dies with kopt.
std::vector<std::string> bwrap_prefix(const std::string& bwrap, const ConfineSpec& spec);

// Whether CUDA initializes (cuInit, through `python` and ctypes) in `base`'s sandbox as
// `user`, and if not, in which loosened one: the host's PID namespace, /proc and /sys as
// on the host, the host's /tmp, a writable root, both (each with a PID namespace of its
// own first), and then CUDA IPC across its PID namespace (kept only where IPC is seen to
// work across it; else the host's). Tried once per user, interpreter and bwrap, and
// cached; about 0.1 s a try. When cuInit fails outside bubblewrap too, `base` is kept
// (the cause is elsewhere, and the candidate's hello reports it).
struct CudaFit {
  bool works = false;  // false: no sandbox tried lets CUDA initialize
  ConfineSpec spec;    // base, loosened as needed
  std::string loosened;  // what was loosened, "" for none
  std::string why;       // cuInit's error inside the standard sandbox, when it failed there
};
CudaFit fit_bwrap_to_cuda(const std::string& bwrap, const ConfineSpec& base, const std::optional<UserIds>& user,
                          const std::string& python, const std::vector<std::string>& env);

// Threads (tasks) that `uid` runs now, counted through /proc: RLIMIT_NPROC counts them
// for the whole user, so a limit is set that many plus a margin.
long tasks_of_user(uid_t uid);

// The directories that hold the user's files and are hidden from candidates: $HOME and
// the passwd entry's home of kopt's user (not "/").
std::vector<std::string> private_homes();

}  // namespace kopt::sandbox
