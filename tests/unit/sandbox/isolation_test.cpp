// A sandbox kept for a candidate's final-gate claim (keep_only_builds) and prepared again
// (prepare_sandbox): the candidate could change anything under candidate/ in between.
#include "kopt/sandbox/isolation.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <gtest/gtest.h>
#include <string>

namespace {

bool is_link(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST(keep_only_builds, keeps_the_candidates_caches_and_nothing_else) {
  auto root = kopt::sandbox::make_temp_dir(kopt::sandbox::temp_root(), "kopt-keep-test-");
  ASSERT_TRUE(root.ok());
  const std::string r = *root;
  for (const char* role : {"reference", "candidate"}) ASSERT_TRUE(kopt::sandbox::prepare_sandbox(r + "/" + role, std::nullopt).ok());
  mkdir((r + "/harness").c_str(), 0755);
  std::ofstream(r + "/candidate/candidate.py") << "class ModelNew: pass\n";
  mkdir((r + "/candidate/cache/torch_extensions/py311_cpu").c_str(), 0700);
  mkdir((r + "/candidate/cache/torch_extensions/py311_cpu/ext").c_str(), 0700);
  std::ofstream(r + "/candidate/cache/torch_extensions/py311_cpu/ext/ext.so") << "built";
  std::ofstream(r + "/candidate/cache/torch_extensions/py311_cpu/ext/lock") << "";  // a build killed midway
  kopt::sandbox::keep_only_builds(r);
  EXPECT_TRUE(exists(r + "/candidate/cache/torch_extensions/py311_cpu/ext/ext.so"));
  EXPECT_FALSE(exists(r + "/candidate/cache/torch_extensions/py311_cpu/ext/lock")) << "a stale lock would hang the next import";
  EXPECT_FALSE(exists(r + "/candidate/candidate.py"));
  EXPECT_FALSE(exists(r + "/candidate/tmp"));
  EXPECT_FALSE(exists(r + "/reference"));
  EXPECT_FALSE(exists(r + "/harness"));
  EXPECT_TRUE(kopt::sandbox::prepare_sandbox(r + "/candidate", std::nullopt).ok());
  kopt::sandbox::remove_tree(r);
}

// A run folder names a kept sandbox for a later session (record.json's build_sandbox);
// reuse empties it, so only a folder that is one is taken.
TEST(is_kept_sandbox, only_a_kopt_sandbox_directly_in_the_work_folder_with_its_caches) {
  auto parent = kopt::sandbox::make_temp_dir(kopt::sandbox::temp_root(), "kopt-kept-test-");
  ASSERT_TRUE(parent.ok());
  const std::string p = *parent;
  auto box = kopt::sandbox::make_temp_dir(p, "kopt-eval-");
  ASSERT_TRUE(box.ok());
  ASSERT_TRUE(kopt::sandbox::prepare_sandbox(*box + "/candidate", std::nullopt).ok());
  EXPECT_TRUE(kopt::sandbox::is_kept_sandbox(*box, p));
  EXPECT_TRUE(kopt::sandbox::is_kept_sandbox(*box, p + "/.")) << "the parent compared as a real path";
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox(*box, kopt::sandbox::temp_root())) << "another work folder";
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox(*box + "/candidate", *box)) << "not named kopt-eval-";
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox("", p));
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox("relative/kopt-eval-x", "relative"));
  // A link named like one, to a real sandbox: not taken.
  ASSERT_EQ(symlink(box->c_str(), (p + "/kopt-eval-link").c_str()), 0);
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox(p + "/kopt-eval-link", p));
  // A folder named like one without the candidate's caches: not taken.
  ASSERT_EQ(mkdir((p + "/kopt-eval-empty").c_str(), 0700), 0);
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox(p + "/kopt-eval-empty", p));
  EXPECT_FALSE(kopt::sandbox::is_kept_sandbox(p + "/kopt-eval-gone", p));
  kopt::sandbox::remove_tree(p);
}

TEST(keep_only_builds, a_folder_the_candidate_replaced_with_a_link_is_removed_not_followed) {
  auto root = kopt::sandbox::make_temp_dir(kopt::sandbox::temp_root(), "kopt-keep-test-");
  auto victim = kopt::sandbox::make_temp_dir(kopt::sandbox::temp_root(), "kopt-victim-");
  ASSERT_TRUE(root.ok() && victim.ok());
  const std::string r = *root, v = *victim;
  ASSERT_TRUE(kopt::sandbox::prepare_sandbox(r + "/candidate", std::nullopt).ok());
  // The victim looks like a cache: kopt must not walk it (deleting its "lock") or chown it.
  mkdir((v + "/torch_extensions").c_str(), 0700);
  std::ofstream(v + "/torch_extensions/lock") << "";
  mkdir((v + "/triton").c_str(), 0700);
  kopt::sandbox::remove_tree(r + "/candidate/cache");
  ASSERT_EQ(symlink(v.c_str(), (r + "/candidate/cache").c_str()), 0);
  kopt::sandbox::keep_only_builds(r);
  EXPECT_TRUE(exists(v + "/torch_extensions/lock")) << "the walk followed the link";
  EXPECT_FALSE(exists(r + "/candidate/cache")) << "the link stays";
  // A link one level down, and prepare_sandbox on a sandbox that still holds one.
  ASSERT_TRUE(kopt::sandbox::prepare_sandbox(r + "/candidate", std::nullopt).ok());
  kopt::sandbox::remove_tree(r + "/candidate/cache/triton");
  ASSERT_EQ(symlink((v + "/triton").c_str(), (r + "/candidate/cache/triton").c_str()), 0);
  const auto refused = kopt::sandbox::prepare_sandbox(r + "/candidate", std::nullopt);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.failure().message.find("is not a directory"), std::string::npos) << refused.failure().message;
  kopt::sandbox::keep_only_builds(r);
  EXPECT_FALSE(is_link(r + "/candidate/cache/triton"));
  EXPECT_TRUE(exists(v + "/triton"));
  EXPECT_TRUE(kopt::sandbox::prepare_sandbox(r + "/candidate", std::nullopt).ok());
  kopt::sandbox::remove_tree(r);
  kopt::sandbox::remove_tree(v);
}
