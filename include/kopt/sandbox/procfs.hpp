#pragma once
// What kopt observes of processes from outside them, through /proc.
#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

namespace kopt::sandbox {

// Makes kopt a child subreaper, so orphans of its workers (a daemonised grandchild
// that called setsid()) are re-parented to kopt and can be found and reaped.
// Also makes kopt non-dumpable: a candidate of the same user cannot read its
// /proc/PID/environ or memory. Call once at start.
void harden_self();

// Remembers the children this process had before kopt started any: a shell that ran
// `kopt ... 2> >(tee log)` and exec'd kopt leaves `tee` as kopt's child. survivors() and
// reap_orphans() never take those for orphans of a worker (killing `tee` once cost a
// run its JSON to SIGPIPE). Call once at start, before any thread or child.
void note_inherited_children();

// The registry of kopt's own live `Child` processes (any thread). survivors(),
// reap_orphans() and kill_processes() never take a registered child for an orphan or a
// helper left behind, nor reap it: so several evaluations can run in parallel threads
// (kopt optimize -j) without one's teardown killing or reaping another's workers.
// Child holds the lock across fork() and registers the new pid before releasing it.
std::unique_lock<std::mutex> lock_child_registry();
void register_child_locked(pid_t pid);  // with the lock held
void unregister_child(pid_t pid);
bool is_registered_child(pid_t pid);

// The fields of /proc/PID/stat after the command name, which may hold spaces,
// parentheses and newlines (parsed after the file's last ')'); nullopt when unreadable.
struct ProcStat {
  char state = 0;
  long ppid = 0, pgrp = 0, session = 0;
};
std::optional<ProcStat> read_stat(pid_t pid);

// All live descendants of `root` (not `root` itself), found by walking parent links.
std::vector<pid_t> descendants_of(pid_t root);
// The live children of `parent`, in pid order, from one scan of /proc.
std::vector<pid_t> children_of(pid_t parent);

// The live processes below `root` (the process kopt started: bwrap, or the worker
// itself) or in its process group that left `worker`'s tree or its session: orphans (a
// double fork re-parents them to the PID namespace's init, or to kopt, the subreaper)
// and processes that called setsid(), as daemons do to outlive the worker.
// torch.compile's pool and compilers stay the worker's children, in its session. Inside
// a PID namespace of its own they die with the worker, so this, taken before the worker
// stops, is what tells of them. With `settle`, only those still there and detached that
// long after (a pipeline's last process may be on its way out).
std::vector<pid_t> detached_from(pid_t root, pid_t worker,
                                 std::chrono::milliseconds settle = std::chrono::milliseconds(0));

// Number of threads of `pid` (0 if it is gone).
int thread_count(pid_t pid);

// SIGKILLs every listed process, then reaps any that are kopt's children. A registered
// `Child` among them learns at reaping that kopt sent the signal (take_killed_by_kopt).
void kill_processes(const std::vector<pid_t>& pids);
// Whether kill_processes SIGKILLed this registered child (and forgets it).
bool take_killed_by_kopt(pid_t pid);

// Waits up to `grace` for the `watched` processes and for kopt's children not in `keep`
// (orphans re-parented to kopt) to exit, reaping those that are kopt's; returns the ones
// still alive then. Lets a worker's helpers (torch.compile's pool) wind down on their own.
std::vector<pid_t> survivors(const std::vector<pid_t>& watched, const std::set<pid_t>& keep,
                             std::chrono::milliseconds grace);

// Kills and reaps every child of kopt not in `keep` (orphans re-parented to kopt),
// repeating until none is left or `rounds` passes are done. Returns how many were found.
int reap_orphans(const std::set<pid_t>& keep, int rounds = 20);

}  // namespace kopt::sandbox
