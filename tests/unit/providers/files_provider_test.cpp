// The files provider: prompts written to an inbox, replies taken from it once complete,
// waiting that can time out or be interrupted, and the list of unanswered prompts.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "kopt/providers/accounting.hpp"
#include "kopt/providers/extract.hpp"
#include "kopt/providers/factory.hpp"
#include "kopt/providers/files.hpp"
#include "unit/providers/test_env.hpp"

namespace pv = kopt::providers;
using std::chrono::milliseconds;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void remove_tree(const std::string& path) {
  if (DIR* dir = opendir(path.c_str())) {
    while (const dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") remove_tree(path + "/" + name);
    }
    closedir(dir);
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* dir = opendir(path.c_str())) {
    while (const dirent* e = readdir(dir))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Written a minute ago: settled whatever the settle interval.
void write_old(const std::string& path, const std::string& text) {
  write_file(path, text);
  struct timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 60;
  times[1] = times[0];
  utimensat(AT_FDCWD, path.c_str(), times, 0);
}

// The way a script should answer: a temporary name, then rename.
void write_by_rename(const std::string& path, const std::string& text) {
  const std::string tmp = path.substr(0, path.rfind('/') + 1) + ".answer.tmp";
  write_file(tmp, text);
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

class FilesProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kopt-files-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_root = tmpl;
    m_inbox = m_root + "/run/inbox";
  }
  void TearDown() override { remove_tree(m_root); }

  pv::ProviderOptions options(bool wait = true) const {
    pv::ProviderOptions o;
    o.kind = "files";
    o.inbox = m_inbox;
    o.wait = wait;
    o.reply_timeout = milliseconds(3000);
    o.settle = milliseconds(300);
    o.poll_interval = milliseconds(20);
    return o;
  }

  std::unique_ptr<pv::Provider> provider(const pv::ProviderOptions& o) const {
    auto p = pv::make_provider(o, kopt::testing::test_env());
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.failure().message);
    return std::move(p.value());
  }

  std::string in(const std::string& name) const { return m_inbox + "/" + name; }

  std::string m_root, m_inbox;
};

}  // namespace

TEST_F(FilesProviderTest, the_prompt_is_written_atomically_with_the_exact_system_and_user_text) {
  auto p = provider(options(false));
  const auto reply = p->complete({1, "SYS line\n", "USER text"});
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::pending);
  EXPECT_EQ(slurp(in("0001.prompt.md")), "# System\n\nSYS line\n\n\n# User\n\nUSER text\n");
  EXPECT_EQ(pv::prompt_file_text("SYS line\n", "USER text"), slurp(in("0001.prompt.md")));

  // A watcher reading while a large prompt is written sees all of it or nothing.
  const std::string big(4 << 20, 'x');
  std::atomic<bool> done{false};
  std::atomic<int> partial{0}, whole{0};
  std::thread watcher([&] {
    while (!done) {
      const std::string text = slurp(in("0002.prompt.md"));
      if (text.empty()) continue;
      (text == pv::prompt_file_text("s", big) ? whole : partial)++;
    }
  });
  EXPECT_EQ(p->complete({2, "s", big}).outcome, pv::ReplyOutcome::pending);
  done = true;
  watcher.join();
  EXPECT_EQ(partial, 0);
  EXPECT_EQ(list_dir(m_inbox), (std::vector<std::string>{"0001.prompt.md", "0002.prompt.md"}));  // no temp files left
}

TEST_F(FilesProviderTest, a_secret_value_in_the_prompt_is_redacted_in_the_prompt_file) {
  // test_env() holds OTHER_SECRET_TOKEN=hunter2hunter2.
  (void)provider(options(false))->complete({1, "s", "token hunter2hunter2 leaked"});
  EXPECT_EQ(slurp(in("0001.prompt.md")), pv::prompt_file_text("s", "token [REDACTED] leaked"));
}

TEST_F(FilesProviderTest, a_reply_md_is_returned_as_its_text_with_estimated_tokens) {
  auto p = provider(options());
  const std::string text = "Here you go.\n```python\nclass ModelNew: pass\n```\n";
  write_old(in("0001.reply.md"), text);
  const auto reply = p->complete({1, std::string(400, 's'), std::string(400, 'u')});
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, text);
  EXPECT_FALSE(reply.usage.reported);
  EXPECT_TRUE(reply.usage.estimated);
  EXPECT_EQ(reply.usage.input_tokens, 2 * pv::estimate_tokens(std::string(400, 's')));
  EXPECT_EQ(reply.usage.output_tokens, pv::estimate_tokens(text));
  EXPECT_EQ(reply.exchange["response"]["reply_file"], in("0001.reply.md"));
  EXPECT_EQ(p->name(), "files");
}

TEST_F(FilesProviderTest, a_reply_py_is_a_bare_candidate_that_extraction_finds_whole) {
  auto p = provider(options());
  const std::string code =
      "import torch\n\"\"\"Docs with a fence:\n```python\nx = 1\n```\n\"\"\"\nclass ModelNew(torch.nn.Module):\n"
      "    def forward(self, x):\n        return x\n";
  write_old(in("0001.reply.py"), code);
  const auto reply = p->complete({1, "s", "u"});
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  auto candidate = pv::extract_candidate(reply.text);
  ASSERT_TRUE(candidate.ok()) << candidate.failure().message;
  EXPECT_EQ(*candidate, code);
}

TEST_F(FilesProviderTest, a_reply_being_written_slowly_is_not_read_until_it_stops_changing) {
  auto p = provider(options());
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += "line " + std::to_string(i) + "\n";
  const auto start = Clock::now();
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    std::ofstream out(in("0001.reply.md"), std::ios::binary);
    for (int i = 0; i < 10; ++i) {
      out << "line " << i << "\n" << std::flush;
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  const auto reply = p->complete({1, "s", "u"});
  const double elapsed = since(start);
  writer.join();
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, expected);
  EXPECT_GE(elapsed, 1.0);
}

TEST_F(FilesProviderTest, a_reply_renamed_into_place_is_read_at_once) {
  auto o = options();
  o.settle = milliseconds(5000);
  auto p = provider(o);
  const auto start = Clock::now();
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(150));
    write_by_rename(in("0001.reply.md"), "renamed answer\n");
  });
  const auto reply = p->complete({1, "s", "u"});
  writer.join();
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, "renamed answer\n");
  EXPECT_LT(since(start), 1.5);
}

TEST_F(FilesProviderTest, without_waiting_a_missing_reply_is_pending_and_the_reply_is_taken_once_there) {
  auto p = provider(options(false));
  const auto start = Clock::now();
  const auto first = p->complete({1, "s", "u"});
  EXPECT_EQ(first.outcome, pv::ReplyOutcome::pending);
  EXPECT_NE(first.message.find("0001.reply.md"), std::string::npos) << first.message;
  EXPECT_LT(since(start), 0.2);
  write_old(in("0001.reply.md"), "answer\n");
  const auto second = p->complete({1, "s", "u"});
  ASSERT_EQ(second.outcome, pv::ReplyOutcome::ok) << second.message;
  EXPECT_EQ(second.text, "answer\n");
}

TEST_F(FilesProviderTest, a_reply_that_never_comes_times_out_naming_the_prompt) {
  auto o = options();
  o.reply_timeout = milliseconds(300);
  const auto start = Clock::now();
  const auto reply = provider(o)->complete({1, "s", "u"});
  const double elapsed = since(start);
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::timed_out);
  EXPECT_EQ(reply.message, "no reply to 0001.prompt.md after 300ms");
  EXPECT_GE(elapsed, 0.3);
  EXPECT_LT(elapsed, 1.0);
}

TEST_F(FilesProviderTest, an_empty_reply_file_is_an_empty_reply) {
  auto p = provider(options());
  write_old(in("0001.reply.md"), " \n\n");
  const auto reply = p->complete({1, "s", "u"});
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::empty);
  EXPECT_NE(reply.message.find("0001.reply.md is empty"), std::string::npos) << reply.message;
}

// A link under a reply's name is not followed: whoever writes the inbox may propose
// candidates, not copy files kopt can read (/etc/shadow, /proc/self/environ) into the run.
TEST_F(FilesProviderTest, a_reply_that_is_a_symbolic_link_is_not_read) {
  auto p = provider(options(false));
  write_old(m_root + "/private.txt", "PRIVATE CONTENTS\n");
  ASSERT_EQ(symlink((m_root + "/private.txt").c_str(), in("0001.reply.md").c_str()), 0);
  const auto reply = p->complete({1, "s", "u"});
  EXPECT_NE(reply.outcome, pv::ReplyOutcome::ok);
  EXPECT_NE(reply.message.find("symbolic link"), std::string::npos) << reply.message;
  EXPECT_EQ(reply.text.find("PRIVATE"), std::string::npos) << reply.text;
  EXPECT_EQ(reply.message.find("PRIVATE"), std::string::npos) << reply.message;
}

TEST_F(FilesProviderTest, a_stop_request_returns_pending_within_a_poll) {
  std::atomic<bool> stop{false};
  auto o = options();
  o.reply_timeout = milliseconds(0);  // would wait forever
  o.should_stop = [&stop] { return stop.load(); };
  auto p = provider(o);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(200));
    stop = true;
  });
  const auto start = Clock::now();
  const auto reply = p->complete({1, "s", "u"});
  const double elapsed = since(start);
  stopper.join();
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::pending);
  EXPECT_NE(reply.message.find("stopped"), std::string::npos) << reply.message;
  EXPECT_LT(elapsed, 0.5);
}

TEST_F(FilesProviderTest, a_late_reply_to_an_earlier_index_is_still_taken) {
  auto p = provider(options(false));
  EXPECT_EQ(p->complete({1, "s", "one"}).outcome, pv::ReplyOutcome::pending);
  EXPECT_EQ(p->complete({2, "s", "two"}).outcome, pv::ReplyOutcome::pending);
  write_old(in("0001.reply.md"), "late answer to one\n");
  EXPECT_EQ(p->complete({2, "s", "two"}).outcome, pv::ReplyOutcome::pending);
  const auto reply = p->complete({1, "s", "one"});
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, "late answer to one\n");
}

TEST_F(FilesProviderTest, an_identical_prompt_is_not_rewritten_when_asked_again) {
  auto p = provider(options(false));
  ASSERT_EQ(p->complete({1, "s", "u"}).outcome, pv::ReplyOutcome::pending);
  write_old(in("0001.prompt.md"), slurp(in("0001.prompt.md")));  // a minute-old mtime marks it
  struct stat before {};
  ASSERT_EQ(stat(in("0001.prompt.md").c_str(), &before), 0);
  // A resumed run (a new provider) asks the same question.
  ASSERT_EQ(provider(options(false))->complete({1, "s", "u"}).outcome, pv::ReplyOutcome::pending);
  struct stat after {};
  ASSERT_EQ(stat(in("0001.prompt.md").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  // A different question under the same index replaces it.
  ASSERT_EQ(p->complete({1, "s", "changed"}).outcome, pv::ReplyOutcome::pending);
  EXPECT_EQ(slurp(in("0001.prompt.md")), pv::prompt_file_text("s", "changed"));
}

TEST_F(FilesProviderTest, four_threads_wait_at_once_and_each_gets_its_own_reply) {
  auto o = options();
  std::mutex seen_mutex;
  size_t most_waiting = 0;
  o.status_interval = milliseconds(50);
  o.on_waiting = [&](const std::vector<pv::PendingPrompt>& waiting) {
    std::lock_guard<std::mutex> lock(seen_mutex);
    most_waiting = std::max(most_waiting, waiting.size());
  };
  auto p = provider(o);
  std::vector<pv::Reply> replies(4);
  std::vector<std::thread> askers;
  for (int i = 0; i < 4; ++i)
    askers.emplace_back([&, i] { replies[i] = p->complete({i + 1, "s", "question " + std::to_string(i + 1)}); });
  // An answering script: waits for all four prompts, then answers them in reverse order.
  const auto start = Clock::now();
  while (list_dir(m_inbox).size() < 4 && since(start) < 2) std::this_thread::sleep_for(milliseconds(10));
  std::this_thread::sleep_for(milliseconds(100));
  for (int i = 4; i >= 1; --i)
    write_by_rename(in(pv::reply_md_name(i)), "answer " + std::to_string(i) + "\n");
  for (auto& t : askers) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(replies[i].outcome, pv::ReplyOutcome::ok) << replies[i].message;
    EXPECT_EQ(replies[i].text, "answer " + std::to_string(i + 1) + "\n");
    EXPECT_EQ(slurp(in(pv::prompt_file_name(i + 1))), pv::prompt_file_text("s", "question " + std::to_string(i + 1)));
  }
  EXPECT_EQ(most_waiting, 4u);
}

TEST_F(FilesProviderTest, pending_prompts_lists_the_unanswered_and_ignores_other_names) {
  ASSERT_TRUE(pv::pending_prompts(m_inbox).ok());
  EXPECT_TRUE(pv::pending_prompts(m_inbox)->empty());  // no inbox yet: nothing pending
  auto p = provider(options(false));
  for (int i = 1; i <= 3; ++i) (void)p->complete({i, "s", "u"});
  write_old(in("0001.reply.md"), "a");
  write_old(in("0003.reply.py"), "b");
  for (const char* name : {".0002.reply.md.tmp", "0002.reply.md~", "0002.reply.md.tmp", ".#0002.reply.md",
                           "0004.prompt.md~", "004.prompt.md", "notes.txt"})
    write_file(in(name), "x");
  auto pending = pv::pending_prompts(m_inbox);
  ASSERT_TRUE(pending.ok()) << pending.failure().message;
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->at(0).index, 2);
  EXPECT_EQ(pending->at(0).path, in("0002.prompt.md"));
  EXPECT_GE(pending->at(0).waited_s, 0.0);
  EXPECT_LT(pending->at(0).waited_s, 60.0);
}

TEST_F(FilesProviderTest, the_factory_needs_an_inbox_and_creates_it) {
  auto o = options();
  o.inbox.clear();
  auto none = pv::make_provider(o, kopt::testing::test_env());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.failure().kind, "usage");
  o.inbox = m_root + "/a/b/inbox";
  ASSERT_TRUE(pv::make_provider(o, kopt::testing::test_env()).ok());
  struct stat st {};
  ASSERT_EQ(stat(o.inbox.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}
