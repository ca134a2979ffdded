#include "kopt/sandbox/procfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace kopt::sandbox {

void harden_self() {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_DUMPABLE, 0);
}

namespace {

std::mutex g_registry_mutex;
std::set<pid_t> g_registry;
std::set<pid_t> g_inherited;  // written once, before kopt starts threads or children

}  // namespace

std::unique_lock<std::mutex> lock_child_registry() { return std::unique_lock<std::mutex>(g_registry_mutex); }

void register_child_locked(pid_t pid) { g_registry.insert(pid); }

void unregister_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  g_registry.erase(pid);
}

bool is_registered_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  return g_registry.count(pid) > 0;
}

std::optional<ProcStat> read_stat(pid_t pid) {
  // The whole file: a command name may hold newlines (PR_SET_NAME), and a line-wise
  // read would stop inside it and lose the process from every scan.
  // open/read, not an istreambuf_iterator: a process that exits between the open and the
  // read fails the read with ESRCH, and libstdc++'s filebuf throws on that (a CI run died
  // of "basic_filebuf::underflow error reading the file: No such process").
  const int fd = open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[1024];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(paren + 1));
  ProcStat st;
  rest >> st.state >> st.ppid >> st.pgrp >> st.session;
  if (!rest) return std::nullopt;
  return st;
}

namespace {

bool is_live(const ProcStat& st) { return st.state != 'Z' && st.state != 'X'; }

// Every process visible in /proc, one read of each stat file.
std::map<pid_t, ProcStat> stat_table() {
  std::map<pid_t, ProcStat> table;
  DIR* dir = opendir("/proc");
  if (!dir) return table;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (const auto st = read_stat(static_cast<pid_t>(pid))) table[static_cast<pid_t>(pid)] = *st;
  }
  closedir(dir);
  return table;
}

// pid -> ppid of each process in `stats`; a zombie's as -(ppid) - 1 (not live).
std::map<pid_t, pid_t> parents_in(const std::map<pid_t, ProcStat>& stats) {
  std::map<pid_t, pid_t> table;
  for (const auto& [pid, st] : stats)
    table[pid] = is_live(st) ? static_cast<pid_t>(st.ppid) : -static_cast<pid_t>(st.ppid) - 1;
  return table;
}

// pid -> ppid for every process visible in /proc.
std::map<pid_t, pid_t> parent_table() { return parents_in(stat_table()); }

// The live descendants of `root` in `table` (a parent_table()), not root itself.
std::vector<pid_t> descendants_in(const std::map<pid_t, pid_t>& table, pid_t root) {
  std::set<pid_t> found{root};
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& [pid, ppid] : table) {
      if (ppid >= 0 && found.count(ppid) && !found.count(pid)) {
        found.insert(pid);
        grew = true;
      }
    }
  }
  found.erase(root);
  return {found.begin(), found.end()};
}

// The parent in a parent_table() entry, zombie or not.
pid_t parent_of(pid_t entry) { return entry >= 0 ? entry : -(entry + 1); }

bool is_inherited(pid_t pid) { return g_inherited.count(pid) > 0; }

}  // namespace

void note_inherited_children() {
  const pid_t self = getpid();
  for (const auto& [pid, ppid] : parent_table())
    if (parent_of(ppid) == self) g_inherited.insert(pid);
}

std::vector<pid_t> descendants_of(pid_t root) { return descendants_in(parent_table(), root); }

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& [pid, ppid] : parent_table())
    if (ppid == parent) out.push_back(pid);  // a zombie's entry is negative: not live
  return out;
}

namespace {
// detached_from at one moment, from one scan of /proc.
std::vector<pid_t> detached_now(pid_t root, pid_t worker) {
  std::vector<pid_t> out;
  const auto stats = stat_table();
  const auto live = [&stats](pid_t p) -> const ProcStat* {
    const auto it = stats.find(p);
    return it != stats.end() && is_live(it->second) ? &it->second : nullptr;
  };
  const ProcStat* w = live(worker);
  const ProcStat* r = live(root);
  if (!w || !r) return out;
  const auto table = parents_in(stats);
  // The processes between root and the worker (bwrap, its PID namespace's init).
  std::set<pid_t> chain;
  for (pid_t p = worker; p != root && p > 1 && chain.size() < 16;) {
    const auto it = table.find(p);
    if (it == table.end() || it->second < 0) break;
    p = it->second;
    chain.insert(p);
  }
  const auto under = descendants_in(table, worker);
  const std::set<pid_t> in_tree(under.begin(), under.end());
  // Below root, and (orphans re-parented to kopt, without bubblewrap) still in its group.
  const auto below = descendants_in(table, root);
  std::set<pid_t> candidates(below.begin(), below.end());
  for (const auto& [p, st] : stats)
    if (p != root && is_live(st) && st.pgrp == r->pgrp) candidates.insert(p);
  for (pid_t p : candidates) {
    if (p == worker || chain.count(p)) continue;
    const ProcStat* st = live(p);
    if (st && (!in_tree.count(p) || st->session != w->session)) out.push_back(p);
  }
  return out;
}
}  // namespace

std::vector<pid_t> detached_from(pid_t root, pid_t worker, std::chrono::milliseconds settle) {
  const auto first = detached_now(root, worker);
  if (first.empty() || settle.count() <= 0) return first;
  // Only what is still there, and still detached, a moment later: an orphan on its way
  // out (a pipeline's last process) is no stray.
  std::this_thread::sleep_for(settle);
  const auto again = detached_now(root, worker);
  std::vector<pid_t> out;
  for (pid_t p : first)
    if (std::find(again.begin(), again.end(), p) != again.end()) out.push_back(p);
  return out;
}

int thread_count(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return 0;
}

namespace {
std::mutex g_killed_mutex;
std::set<pid_t> g_killed;  // kopt's registered children it SIGKILLed here, until reaped
}  // namespace

bool take_killed_by_kopt(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_killed_mutex);
  return g_killed.erase(pid) > 0;
}

void kill_processes(const std::vector<pid_t>& pids) {
  {
    std::lock_guard<std::mutex> lock(g_killed_mutex);
    for (pid_t pid : pids)
      if (is_registered_child(pid)) g_killed.insert(pid);
  }
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) {
    int status;
    if (!is_registered_child(pid)) waitpid(pid, &status, WNOHANG);  // a Child reaps its own
  }
}

std::vector<pid_t> survivors(const std::vector<pid_t>& watched, const std::set<pid_t>& keep,
                             std::chrono::milliseconds grace) {
  const pid_t self = getpid();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (true) {
    std::set<pid_t> alive;
    const auto table = parent_table();
    for (const auto& [pid, ppid] : table) {
      const bool zombie = ppid < 0;
      const pid_t parent = parent_of(ppid);
      if (parent == self && !keep.count(pid) && !is_registered_child(pid) && !is_inherited(pid)) {
        if (zombie) {
          int status;
          waitpid(pid, &status, WNOHANG);
        } else {
          alive.insert(pid);
        }
      }
    }
    for (pid_t pid : watched) {
      auto it = table.find(pid);
      if (it != table.end() && it->second >= 0) alive.insert(pid);
    }
    if (alive.empty() || std::chrono::steady_clock::now() >= deadline) return {alive.begin(), alive.end()};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int reap_orphans(const std::set<pid_t>& keep, int rounds) {
  int found = 0;
  const pid_t self = getpid();
  for (int round = 0; round < rounds; ++round) {
    std::vector<pid_t> orphans;
    for (const auto& [pid, ppid] : parent_table()) {
      const pid_t parent = parent_of(ppid);
      if (parent == self && !keep.count(pid) && !is_registered_child(pid) && !is_inherited(pid)) orphans.push_back(pid);
    }
    if (orphans.empty()) break;
    int status;
    for (pid_t pid : orphans) {
      // Kill the orphan's own descendants first so they re-parent to us as well.
      for (pid_t d : descendants_of(pid)) kill(d, SIGKILL);
      kill(pid, SIGKILL);
    }
    found += static_cast<int>(orphans.size());
    for (pid_t pid : orphans) waitpid(pid, &status, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return found;
}

}  // namespace kopt::sandbox
