// Candidates that attack the machine they run on (tests/cases/c_iso_*.py): each gets a
// verdict, changes nothing outside its sandbox, and kopt lives. Where a layer cannot work
// on the test machine, kopt must say so in the report's `isolation` object.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "harness.hpp"

using kopt::testing::eval_case;
using kopt::testing::KoptRun;

namespace {

// Whether bubblewrap makes a network namespace here for the user candidates run as
// (nobody when the tests run as root), found without asking kopt.
bool bwrap_works() {
  const std::string bwrap = kopt::testing::test_bwrap();
  if (access(bwrap.c_str(), X_OK) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    execl(bwrap.c_str(), "bwrap", "--unshare-net", "--ro-bind", "/", "/", "/bin/true", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A loopback TCP server on a free port that counts the connections it accepts.
class LoopbackServer {
 public:
  LoopbackServer() {
    m_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(m_fd, 16);
    socklen_t len = sizeof addr;
    getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this] {
      while (!m_stop) {
        pollfd p{m_fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
          const int c = accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) {
            ++m_accepted;
            close(c);
          }
        }
      }
    });
  }
  ~LoopbackServer() {
    m_stop = true;
    m_thread.join();
    close(m_fd);
  }
  int port() const { return m_port; }
  int accepted() const { return m_accepted; }

 private:
  int m_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_accepted{0};
  std::thread m_thread;
};

// A home for kopt's user that anyone may write (so only confinement keeps a candidate
// out, whichever user it runs as), with a planted SSH key anyone may read.
struct FakeHome {
  std::string dir = kopt::testing::temp_dir("kopt-iso-home");
  std::string key;
  FakeHome() {
    std::random_device rd;
    key = "KOPT-PLANTED-SSH-KEY-" + std::to_string(rd()) + std::to_string(rd());
    chmod(dir.c_str(), 0777);
    mkdir((dir + "/.ssh").c_str(), 0755);
    std::ofstream(dir + "/.ssh/id_ed25519") << key << "\n";
    chmod((dir + "/.ssh/id_ed25519").c_str(), 0644);
  }
  ~FakeHome() {
    unlink((dir + "/.ssh/id_ed25519").c_str());
    rmdir((dir + "/.ssh").c_str());
    unlink((dir + "/kopt_pwned").c_str());
    rmdir(dir.c_str());
  }
};

bool layer_active(const KoptRun& run, const std::string& name) {
  const auto& iso = run.json["isolation"];
  return iso.contains(name) && iso[name].value("active", false);
}

std::string layer_detail(const KoptRun& run, const std::string& name) {
  const auto& iso = run.json["isolation"];
  return iso.contains(name) ? iso[name].value("detail", std::string()) : std::string();
}

void expect_outcome(const KoptRun& run, int exit_code, const std::string& outcome) {
  const std::string context = kopt::testing::context(run);
  ASSERT_EQ(run.exit_code, exit_code) << context;
  ASSERT_TRUE(run.json.is_object()) << context;
  EXPECT_EQ(run.json["outcome"], outcome) << context;
  ASSERT_TRUE(run.json["isolation"].is_object()) << context;
}

// Processes whose name (comm) is `name`.
int processes_named(const std::string& name) {
  int n = 0;
  DIR* dir = opendir("/proc");
  while (dirent* e = dir ? readdir(dir) : nullptr) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/comm");
    std::string comm;
    if (std::getline(in, comm) && comm == name) ++n;
  }
  if (dir) closedir(dir);
  return n;
}

}  // namespace

TEST(isolation, every_layer_is_reported_with_whether_it_is_in_force) {
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py");
  expect_outcome(run, 0, "correct");
  for (const char* name : {"user", "network", "filesystem", "processes", "limits", "gpu_memory"}) {
    ASSERT_TRUE(run.json["isolation"].contains(name)) << name;
    EXPECT_FALSE(layer_detail(run, name).empty()) << name;
  }
  EXPECT_EQ(layer_active(run, "network"), bwrap_works()) << layer_detail(run, "network");
  EXPECT_EQ(layer_active(run, "filesystem"), bwrap_works()) << layer_detail(run, "filesystem");
  // On a GPU, CUDA may need the host's PID namespace (the layer then says it was loosened).
  if (!kopt::testing::on_gpu()) {
    EXPECT_EQ(layer_active(run, "processes"), bwrap_works()) << layer_detail(run, "processes");
  }
  EXPECT_EQ(layer_active(run, "user"), geteuid() == 0) << layer_detail(run, "user");
  EXPECT_TRUE(layer_active(run, "limits"));
}

TEST(isolation, a_candidate_cannot_connect_to_a_loopback_server) {
  LoopbackServer server;
  const auto run = eval_case("w_elementwise.py", "c_iso_network.py", {},
                             {{"KOPT_ISO_PORT", std::to_string(server.port())}});
  if (!bwrap_works()) {
    // No network namespace here: kopt must say so; the candidate's connection then works.
    expect_outcome(run, 1, "wrong_result");
    EXPECT_FALSE(layer_active(run, "network"));
    EXPECT_NE(layer_detail(run, "network").find("bubblewrap"), std::string::npos);
    GTEST_SKIP() << "no network namespace on this machine: " << layer_detail(run, "network");
  }
  expect_outcome(run, 0, "correct");
  EXPECT_TRUE(layer_active(run, "network"));
  EXPECT_EQ(server.accepted(), 0);
}

TEST(isolation, without_bubblewrap_the_network_layer_is_reported_missing_and_the_connection_works) {
  LoopbackServer server;
  const auto run = eval_case("w_elementwise.py", "c_iso_network.py", {},
                             {{"KOPT_ISO_PORT", std::to_string(server.port())}, {"KOPT_BWRAP", "/nonexistent/bwrap"}});
  expect_outcome(run, 1, "wrong_result");
  EXPECT_FALSE(layer_active(run, "network"));
  EXPECT_FALSE(layer_active(run, "filesystem"));
  EXPECT_NE(layer_detail(run, "network").find("apt-get install bubblewrap"), std::string::npos);
  EXPECT_NE(run.out.find("network"), std::string::npos);
  EXPECT_GE(server.accepted(), 1);
}

TEST(isolation, a_candidate_cannot_see_kopts_process_or_its_command_line) {
  const auto run = eval_case("w_elementwise.py", "c_iso_processes.py");
  if (!bwrap_works()) {
    EXPECT_FALSE(layer_active(run, "processes"));
    GTEST_SKIP() << "no PID namespace on this machine: " << layer_detail(run, "processes");
  }
  expect_outcome(run, 0, "correct");
  EXPECT_TRUE(layer_active(run, "processes")) << layer_detail(run, "processes");
  EXPECT_NE(run.json["candidate_log_tail"].get<std::string>().find("kopt processes seen: []"), std::string::npos)
      << run.json["candidate_log_tail"];
}

TEST(isolation, without_bubblewrap_the_processes_layer_is_reported_missing_and_kopt_is_visible) {
  const auto run = eval_case("w_elementwise.py", "c_iso_processes.py", {}, {{"KOPT_BWRAP", "/nonexistent/bwrap"}});
  expect_outcome(run, 1, "wrong_result");
  EXPECT_FALSE(layer_active(run, "processes"));
  EXPECT_NE(layer_detail(run, "processes").find("command lines"), std::string::npos) << layer_detail(run, "processes");
}

TEST(isolation, where_bubblewrap_cannot_make_a_pid_namespace_the_rest_still_confines_and_the_layer_says_why) {
  if (!bwrap_works()) GTEST_SKIP() << "no bubblewrap here";
  const auto run = eval_case("w_elementwise.py", "c_iso_processes.py", {},
                             {{"KOPT_BWRAP", kopt::testing::case_path("bwrap_no_pidns.sh")}});
  expect_outcome(run, 1, "wrong_result");  // it saw kopt
  EXPECT_TRUE(layer_active(run, "network")) << layer_detail(run, "network");
  EXPECT_TRUE(layer_active(run, "filesystem")) << layer_detail(run, "filesystem");
  EXPECT_FALSE(layer_active(run, "processes"));
  EXPECT_NE(layer_detail(run, "processes").find("Can't mount proc"), std::string::npos) << layer_detail(run, "processes");
}

TEST(isolation, a_candidate_cannot_write_into_the_users_home) {
  FakeHome home;
  const auto run = eval_case("w_elementwise.py", "c_iso_home_write.py", {},
                             {{"HOME", home.dir}, {"KOPT_ISO_TARGET", home.dir + "/kopt_pwned"}});
  if (!bwrap_works()) {
    EXPECT_FALSE(layer_active(run, "filesystem"));
    GTEST_SKIP() << "no file system confinement on this machine: " << layer_detail(run, "filesystem");
  }
  expect_outcome(run, 0, "correct");
  EXPECT_TRUE(layer_active(run, "filesystem"));
  EXPECT_FALSE(kopt::testing::exists(home.dir + "/kopt_pwned"));
}

TEST(isolation, a_candidate_cannot_read_the_users_ssh_keys) {
  FakeHome home;
  const auto run = eval_case("w_elementwise.py", "c_iso_ssh_read.py", {}, {{"HOME", home.dir}, {"KOPT_ISO_HOME", home.dir}});
  if (!bwrap_works()) {
    EXPECT_FALSE(layer_active(run, "filesystem"));
    GTEST_SKIP() << "no file system confinement on this machine: " << layer_detail(run, "filesystem");
  }
  expect_outcome(run, 0, "correct");
  EXPECT_EQ(run.out.find(home.key), std::string::npos);
  EXPECT_EQ(run.err.find(home.key), std::string::npos);
}

TEST(isolation, a_fork_bomb_is_bounded_and_every_process_is_reaped) {
  const auto run = eval_case("w_elementwise.py", "c_iso_fork_bomb.py", {"--candidate-max-processes", "64"});
  expect_outcome(run, 1, "tampered");
  EXPECT_EQ(run.json["check"], "stray_work") << kopt::testing::context(run);
  // Bounded: fork failed before the candidate's own cap of 5000 children.
  const std::string log = run.json["candidate_log_tail"];
  EXPECT_NE(log.find("fork failed after"), std::string::npos) << log;
  EXPECT_EQ(processes_named("kopt_iso_bomb"), 0);
}

namespace {

// eval_case of `candidate` against w_elementwise.py under bubblewrap (where it works
// here) and without it: {bubblewrap used, the run}.
std::vector<std::pair<bool, KoptRun>> with_and_without_bubblewrap(const std::string& candidate) {
  std::vector<std::pair<bool, KoptRun>> runs;
  if (bwrap_works()) runs.emplace_back(true, eval_case("w_elementwise.py", candidate));
  runs.emplace_back(false, eval_case("w_elementwise.py", candidate, {}, {{"KOPT_BWRAP", "/nonexistent/bwrap"}}));
  return runs;
}

}  // namespace

// A double fork without setsid: the orphan leaves the worker's tree (to the PID namespace's
// init, or to kopt without bubblewrap) but not its session. Flagged both ways, and ended.
TEST(isolation, an_orphan_left_running_is_stray_work_with_or_without_bubblewrap) {
  for (const auto& [bwrap, run] : with_and_without_bubblewrap("c_iso_orphan.py")) {
    expect_outcome(run, 1, "tampered");
    EXPECT_EQ(run.json["check"], "stray_work") << "bubblewrap " << bwrap << "\n" << kopt::testing::context(run);
    EXPECT_EQ(processes_named("kopt_iso_orphan"), 0) << "bubblewrap " << bwrap;
  }
}

// A process whose name holds a newline: /proc/PID/stat read line by line lost it from
// every scan, so a daemon outlived kopt unflagged. Flagged both ways, and ended.
TEST(isolation, a_daemon_with_a_newline_in_its_name_is_still_stray_work) {
  for (const auto& [bwrap, run] : with_and_without_bubblewrap("c_iso_newline_daemon.py")) {
    expect_outcome(run, 1, "tampered");
    EXPECT_EQ(run.json["check"], "stray_work") << "bubblewrap " << bwrap << "\n" << kopt::testing::context(run);
    EXPECT_EQ(processes_named("kopt_nl"), 0) << "bubblewrap " << bwrap;
  }
}

// A descriptor kopt's caller left open (a shell's `7<file`, a test runner's pipe) does
// not reach the candidate, with or without bubblewrap.
TEST(isolation, a_candidate_inherits_no_descriptor_from_kopts_caller) {
  const std::string marker = kopt::testing::temp_dir("kopt-fd") + "/kopt-fd-marker.txt";
  { std::ofstream(marker) << "kopt-fd-marker"; }
  // No O_CLOEXEC: kopt inherits it. Above 3, which kopt's workers get their control
  // socket on (a shell's `7<file`).
  const int low = ::open(marker.c_str(), O_RDONLY);
  ASSERT_GE(low, 0);
  const int fd = ::fcntl(low, F_DUPFD, 40);
  ::close(low);
  ASSERT_GE(fd, 40);
  for (const auto& [bwrap, run] : with_and_without_bubblewrap("c_iso_fds.py")) {
    expect_outcome(run, 0, "correct");
    EXPECT_NE(run.json["candidate_log_tail"].get<std::string>().find("inherited descriptors: []"), std::string::npos)
        << "bubblewrap " << bwrap << "\n" << run.json["candidate_log_tail"];
  }
  ::close(fd);
}

// Run from a terminal (script(1) gives kopt one), the candidate has no controlling
// terminal: it cannot open /dev/tty to write on the user's screen or push keystrokes into
// their shell with TIOCSTI.
TEST(isolation, a_candidate_has_no_controlling_terminal_even_when_kopt_has_one) {
  if (access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "no script(1) here";
  const std::string dir = kopt::testing::temp_dir("kopt-tty");
  const std::string line = std::string(KOPT_BINARY) + " eval " + kopt::testing::case_path("w_elementwise.py") + " " +
                           kopt::testing::case_path("c_iso_tty.py") + " --json >" + dir + "/out.json 2>" + dir + "/err.txt";
  const std::string command = "/usr/bin/script -qec '" + line + "' /dev/null </dev/null >" + dir + "/script.txt 2>&1";
  ::system(command.c_str());
  const auto json = nlohmann::json::parse(kopt::testing::read(dir + "/out.json"), nullptr, false);
  ASSERT_TRUE(json.is_object()) << kopt::testing::read(dir + "/err.txt") << kopt::testing::read(dir + "/script.txt");
  EXPECT_EQ(json["outcome"], "correct") << json.dump(1).substr(0, 2000);
  EXPECT_NE(json["candidate_log_tail"].get<std::string>().find("terminal opened: False"), std::string::npos)
      << json["candidate_log_tail"];
}

TEST(isolation, a_file_that_grows_without_end_is_stopped_at_the_size_limit) {
  const auto run = eval_case("w_elementwise.py", "c_iso_file_growth.py", {"--candidate-max-file", "0.01"});
  expect_outcome(run, 1, "crashed");
  const std::string why = run.json["reason"];
  EXPECT_NE(why.find("File too large"), std::string::npos) << why;
  EXPECT_NE(layer_detail(run, "limits").find("files up to 0.01 GiB"), std::string::npos) << layer_detail(run, "limits");
}

TEST(isolation, unbounded_host_allocation_is_stopped_at_the_address_space_limit) {
  if (kopt::testing::on_gpu()) GTEST_SKIP() << "the address space is limited on cpu only";
  const auto run = eval_case("w_elementwise.py", "c_iso_host_alloc.py", {"--candidate-max-memory", "3"});
  expect_outcome(run, 1, "crashed");
  const std::string why = run.json["reason"];
  EXPECT_NE(why.find("can't allocate memory"), std::string::npos) << why;
  EXPECT_NE(layer_detail(run, "limits").find("address space 3 GiB"), std::string::npos) << layer_detail(run, "limits");
}

TEST(isolation, a_candidate_gets_at_most_its_share_of_gpu_memory) {
  if (!kopt::testing::on_gpu()) GTEST_SKIP() << "needs KOPT_TEST_DEVICE=cuda";
  const auto run = eval_case("w_elementwise.py", "c_iso_gpu_alloc.py", {"--candidate-gpu-memory", "0.25"});
  expect_outcome(run, 0, "correct");
  EXPECT_TRUE(layer_active(run, "gpu_memory")) << layer_detail(run, "gpu_memory");
  std::istringstream log(run.json["candidate_log_tail"].get<std::string>());
  double got = -1, total = 0;
  for (std::string word; log >> word;)
    if (word == "kopt_iso_gpu_bytes") log >> got >> word >> total;
  ASSERT_GT(got, 0) << run.json["candidate_log_tail"];
  EXPECT_LE(got, 0.25 * total);
}

// ---- kopt doctor ----------------------------------------------------------------------

namespace {

nlohmann::json doctor_check(const KoptRun& run, const std::string& name) {
  for (const auto& c : run.json["checks"])
    if (c["name"] == name) return c;
  return nullptr;
}

}  // namespace

TEST(doctor, reports_the_isolation_layers_that_work_here_and_exits_zero) {
  const auto run = kopt::testing::run_kopt({"--python", kopt::testing::test_python(), "doctor", "--json"});
  ASSERT_EQ(run.exit_code, 0) << kopt::testing::context(run);
  EXPECT_TRUE(run.json["ok"].get<bool>());
  EXPECT_EQ(doctor_check(run, "python")["status"], "ok");
  const auto network = doctor_check(run, "isolation: network");
  ASSERT_TRUE(network.is_object()) << run.out;
  EXPECT_EQ(network["status"] == "ok", bwrap_works()) << network;
  for (const char* name : {"cuda", "nvcc", "pybind11", "ncu", "isolation: user", "isolation: filesystem", "isolation: limits"})
    EXPECT_TRUE(doctor_check(run, name).is_object()) << name;
  EXPECT_EQ(doctor_check(run, "isolation: processes")["status"] == "ok", bwrap_works()) << run.out;
}

TEST(doctor, warns_when_bubblewrap_cannot_make_a_pid_namespace) {
  if (!bwrap_works()) GTEST_SKIP() << "no bubblewrap here";
  const auto run = kopt::testing::run_kopt({"--python", kopt::testing::test_python(), "doctor", "--json"},
                                           {{"KOPT_BWRAP", kopt::testing::case_path("bwrap_no_pidns.sh")}});
  ASSERT_EQ(run.exit_code, 0) << kopt::testing::context(run);
  EXPECT_EQ(doctor_check(run, "isolation: network")["status"], "ok") << run.out;
  const auto processes = doctor_check(run, "isolation: processes");
  EXPECT_EQ(processes["status"], "warning") << run.out;
  EXPECT_NE(processes["detail"].get<std::string>().find("Can't mount proc"), std::string::npos) << processes;
}

TEST(doctor, names_the_fix_when_bubblewrap_is_missing) {
  const auto run = kopt::testing::run_kopt({"--python", kopt::testing::test_python(), "doctor", "--json"},
                                           {{"KOPT_BWRAP", "/nonexistent/bwrap"}});
  ASSERT_EQ(run.exit_code, 0) << kopt::testing::context(run);
  const auto network = doctor_check(run, "isolation: network");
  EXPECT_EQ(network["status"], "warning");
  EXPECT_EQ(network["fix"], "apt-get install bubblewrap");
}

TEST(doctor, says_whether_a_provider_key_is_set_but_never_its_value) {
  const std::string secret = "sk-kopt-doctor-test-0123456789";
  const auto run = kopt::testing::run_kopt({"--python", kopt::testing::test_python(), "doctor"}, {{"OPENAI_API_KEY", secret}});
  ASSERT_EQ(run.exit_code, 0) << kopt::testing::context(run);
  EXPECT_NE(run.out.find("OPENAI_API_KEY: set"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find(secret), std::string::npos);
  EXPECT_EQ(run.err.find(secret), std::string::npos);
}

TEST(doctor, exits_one_when_the_python_cannot_import_torch) {
  const auto run = kopt::testing::run_kopt({"--python", "/bin/false", "doctor", "--json"});
  ASSERT_EQ(run.exit_code, 1) << kopt::testing::context(run);
  EXPECT_FALSE(run.json["ok"].get<bool>());
  EXPECT_EQ(doctor_check(run, "python")["status"], "missing");
  EXPECT_FALSE(doctor_check(run, "python")["fix"].get<std::string>().empty());
}
