#pragma once
// Runs the real kopt binary for integration tests.
#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kopt::testing {

struct KoptRun {
  int exit_code = -1;
  std::string out;   // stdout
  std::string err;   // stderr
  nlohmann::json json;  // stdout parsed, when it is JSON
  double seconds = 0;
  long max_rss_kb = 0;  // the largest resident set of kopt and the children it waited for
};

// Runs `kopt ARGS...` with extra environment variables; no shell involved.
KoptRun run_kopt(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {});

// `kopt eval CASES/workload CASES/candidate --json EXTRA...`
KoptRun eval_case(const std::string& workload, const std::string& candidate,
                  const std::vector<std::string>& extra = {},
                  const std::map<std::string, std::string>& env = {});

std::string case_path(const std::string& name);

// KOPT_TEST_DEVICE=cuda runs every eval case on the GPU (--device cuda); GPU-only tests
// skip without it.
bool on_gpu();

// Whether this process may make a cgroup v1 memory group (root, the controller mounted
// at /sys/fs/cgroup/memory): w_oom_killed.py needs one to provoke the OOM killer.
bool can_make_memory_cgroup();
// Removes the memory groups w_oom_killed.py made (kopt-test-oom-*), their processes gone.
void remove_test_cgroups();

// An interpreter with torch for tests that name one: KOPT_TEST_PYTHON (the GPU machine's
// torch is not under /usr/bin/python3), else /usr/bin/python3.
std::string test_python();

// The bubblewrap kopt would use: KOPT_BWRAP when set (a path that does not exist turns
// it off), else /usr/bin/bwrap.
std::string test_bwrap();

// True when some process's command line contains `needle`.
bool process_running(const std::string& needle);

// kopt's stdout and stderr, for a failed assertion's message.
std::string context(const KoptRun& run);

// Run-directory helpers for the optimize tests.
std::string temp_dir(const std::string& prefix);  // a new directory under $TMPDIR or /tmp
bool exists(const std::string& path);
std::string read(const std::string& path);         // empty when unreadable
void copy_file(const std::string& from, const std::string& to);
// A replay folder DIR/replay of `count` copies of the honest candidate for w_elementwise.
std::string honest_replay(const std::string& dir, int count);
nlohmann::json read_json(const std::string& path);  // null when missing or malformed
// Polls until `path` exists or `seconds` pass; true if it does.
bool wait_for(const std::string& path, double seconds, int poll_ms = 50);
// Polls until the file at `path` holds `text` or `seconds` pass; true if it does (a log
// line a test waits for before it signals kopt).
bool wait_for_text(const std::string& path, const std::string& text, double seconds, int poll_ms = 50);
// Starts kopt without waiting (stdin /dev/null, stdout and stderr to files in `dir`), in
// the working directory `cwd` when one is given.
pid_t start_kopt(const std::vector<std::string>& args, const std::string& dir, const std::string& cwd = "");
// Waits for `pid`; its exit code, or 128 + the signal that ended it.
int wait_exit(pid_t pid);
// The record.json of each candidate of a run directory, by id.
std::map<int, nlohmann::json> records(const std::string& run_dir);

}  // namespace kopt::testing
