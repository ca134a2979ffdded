// The HTML report in a real headless browser (Debian's chromium): it loads with no network
// request and no console message, and a screenshot is left in the test's output folder
// (KOPT_REPORT_OUTPUT_DIR). Skips, saying why, where chromium is not installed
// (`scripts/dev test` installs it). A control page shows that the checks see a request
// and a console error when a page has them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "report_fixtures.hpp"

using namespace kopt::testing;

namespace {

std::string chromium() {
  if (const char* env = std::getenv("KOPT_CHROMIUM"); env && *env) return env;
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// Runs `argv` with stdout and stderr to files; kills it after `seconds`. Its exit code.
int run_to_files(const std::vector<std::string>& argv, const std::string& out, const std::string& err, int seconds) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = ::open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return 124;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid, SIGKILL);  // helpers chromium left behind
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct PageLoad {
  int exit_code = -1;
  std::string dom;
  std::vector<std::string> console;    // console messages (chromium logs them as INFO:CONSOLE)
  std::vector<std::string> requests;   // network requests the page made (from the net log)
  bool net_log_read = false;
};

// Loads `html` in headless chromium with a fresh profile; the page's own requests are those
// of the net log whose network isolation key is the file:// page (chromium's background
// requests for updates and accounts have other keys).
PageLoad load(const std::string& html, const std::string& work, const std::string& fragment = "") {
  PageLoad p;
  const std::string net_log = work + "/net.json";
  p.exit_code = run_to_files({chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                              "--user-data-dir=" + work + "/profile", "--enable-logging=stderr", "--v=0",
                              "--log-net-log=" + net_log, "--dump-dom", "file://" + html + fragment},
                             work + "/dom.html", work + "/stderr.txt", 90);
  p.dom = read(work + "/dom.html");
  std::istringstream err(read(work + "/stderr.txt"));
  for (std::string line; std::getline(err, line);)
    if (line.find(":CONSOLE") != std::string::npos) p.console.push_back(line);
  const auto log = nlohmann::json::parse(read(net_log), nullptr, false);
  p.net_log_read = log.is_object() && log.contains("events");
  if (!p.net_log_read) return p;
  for (const auto& e : log["events"]) {
    if (!e.contains("params") || !e["params"].is_object()) continue;
    const auto& params = e["params"];
    if (!params.contains("url") || !params.contains("network_isolation_key")) continue;
    const std::string url = params["url"].is_string() ? params["url"].get<std::string>() : "";
    const std::string key = params["network_isolation_key"].is_string() ? params["network_isolation_key"].get<std::string>() : "";
    if (key.find("file://") != std::string::npos && url.rfind("file:", 0) != 0) p.requests.push_back(url);
  }
  return p;
}

void screenshot(const std::string& html, const std::string& png, const std::string& work) {
  const int code = run_to_files({chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
                                 "--user-data-dir=" + work + "/profile-shot", "--window-size=1200,2600",
                                 "--screenshot=" + png, "file://" + html},
                                work + "/shot.out", work + "/shot.err", 90);
  EXPECT_EQ(code, 0) << read(work + "/shot.err");
  EXPECT_GT(read(png).size(), 10'000u) << png;
}

std::string output_dir() {
  const std::string dir = KOPT_REPORT_OUTPUT_DIR;
  EXPECT_EQ(::system(("mkdir -p '" + dir + "'").c_str()), 0);
  return dir;
}

std::string render(const std::vector<std::string>& dirs, const std::string& html) {
  std::vector<std::string> args = {"report"};
  args.insert(args.end(), dirs.begin(), dirs.end());
  args.insert(args.end(), {"--format", "html", "-o", html});
  const auto run = run_kopt(args);
  EXPECT_EQ(run.exit_code, 0) << context(run);
  return html;
}

void expect_clean_load(const std::string& html) {
  const std::string work = temp_dir("kopt-browser");
  const auto p = load(html, work);
  ASSERT_EQ(p.exit_code, 0) << read(work + "/stderr.txt");
  ASSERT_TRUE(p.net_log_read) << "chromium wrote no net log";
  EXPECT_NE(p.dom.find("<h1>kopt report"), std::string::npos) << "the page rendered";
  EXPECT_EQ(p.dom.find("<script"), std::string::npos) << "no script element in the loaded page";
  EXPECT_TRUE(p.requests.empty()) << "network request: " << p.requests.front();
  EXPECT_TRUE(p.console.empty()) << "console: " << p.console.front();
}

}  // namespace

class report_browser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (chromium().empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium; scripts/dev test does)";
  }
};

TEST_F(report_browser, the_checks_see_a_request_and_a_console_error_on_a_page_that_has_them) {
  const std::string work = temp_dir("kopt-browser");
  std::ofstream(work + "/bad.html") << "<!DOCTYPE html><html><body><h1>kopt report</h1><img src=\"http://127.0.0.1:9/x.png\">"
                                       "<script>console.error('boom'); missing();</script></body></html>";
  const auto p = load(work + "/bad.html", work);
  ASSERT_EQ(p.exit_code, 0);
  ASSERT_TRUE(p.net_log_read);
  ASSERT_EQ(p.requests.size() > 0, true) << "the image request was not seen";
  EXPECT_EQ(p.requests.front(), "http://127.0.0.1:9/x.png");
  ASSERT_GE(p.console.size(), 2u);
  EXPECT_NE(p.console[1].find("Uncaught ReferenceError"), std::string::npos) << p.console[1];
}

TEST_F(report_browser, a_recorded_run_loads_with_no_request_and_no_console_message_and_is_photographed) {
  const std::string out = output_dir();
  const auto html = render({std::string(KOPT_FIXTURES_DIR) + "/runs/linear_gelu_cpu"}, out + "/report-linear_gelu_cpu.html");
  expect_clean_load(html);
  screenshot(html, out + "/report-linear_gelu_cpu.png", temp_dir("kopt-browser"));
}

// A candidate's id in the table links to its section, collapsed until asked for: following
// the link opens that section and no other.
TEST_F(report_browser, following_a_candidates_link_opens_its_section) {
  const std::string work = temp_dir("kopt-browser");
  const auto html = render({std::string(KOPT_FIXTURES_DIR) + "/runs/linear_gelu_cpu"}, work + "/report.html");
  const auto closed = load(html, work);
  ASSERT_EQ(closed.exit_code, 0) << read(work + "/stderr.txt");
  EXPECT_EQ(closed.dom.find("<details class=\"cand\" open"), std::string::npos) << "all closed at first";
  const auto p = load(html, work, "#c-r0-0003");
  ASSERT_EQ(p.exit_code, 0) << read(work + "/stderr.txt");
  const auto target = p.dom.find("<dl id=\"c-r0-0003\">");
  ASSERT_NE(target, std::string::npos) << p.dom;
  const auto section = p.dom.rfind("<details", target);
  ASSERT_NE(section, std::string::npos);
  EXPECT_EQ(p.dom.compare(section, 29, "<details class=\"cand\" open=\"\""), 0) << p.dom.substr(section, 80);
  EXPECT_EQ(occurrences(p.dom, "<details class=\"cand\" open"), 1u) << "only the linked section opens";
}

TEST_F(report_browser, a_report_of_candidates_that_wrote_markup_loads_without_running_any) {
  const std::string out = output_dir();
  const auto html = render({all_failed_run(temp_dir("kopt-browser-run"))}, out + "/report-all-failed.html");
  expect_clean_load(html);
}

TEST_F(report_browser, a_suite_page_loads_clean_and_is_photographed) {
  const std::string out = output_dir();
  const auto html = render({suite_with_failed_baseline(temp_dir("kopt-browser-run"))}, out + "/report-suite.html");
  expect_clean_load(html);
  screenshot(html, out + "/report-suite.png", temp_dir("kopt-browser"));
}
