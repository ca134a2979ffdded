#include <gtest/gtest.h>

#include "kopt/providers/extract.hpp"

namespace pv = kopt::providers;

namespace {
const char* kModelNew = "import torch\nclass ModelNew(torch.nn.Module):\n    pass\n";
}

TEST(extract_candidate, takes_a_python_block_with_prose_around_it) {
  const std::string reply = std::string("Here is a fused kernel.\n\n```python\n") + kModelNew + "```\n\nIt is faster.";
  EXPECT_EQ(pv::extract_candidate(reply).value(), kModelNew);
}

TEST(extract_candidate, accepts_any_language_tag_or_none_and_tilde_fences) {
  for (const std::string open : {"```", "```py", "```Python3", "~~~python", "````python {.numberLines}"}) {
    const std::string close = open.substr(0, open.find_first_not_of(open[0]));
    const std::string reply = open + "\n" + kModelNew + close + "\n";
    auto code = pv::extract_candidate(reply);
    ASSERT_TRUE(code.ok()) << open;
    EXPECT_EQ(code.value(), kModelNew) << open;
  }
}

TEST(extract_candidate, picks_the_block_that_defines_model_new_among_several) {
  const std::string reply = std::string("First the CUDA source:\n```cpp\n__global__ void k() {}\n```\n") +
                            "Then the module:\n```python\n" + kModelNew + "```\nUsage:\n```bash\npython run.py\n```\n";
  EXPECT_EQ(pv::extract_candidate(reply).value(), kModelNew);
}

TEST(extract_candidate, prefers_the_last_definition_when_the_model_revises_itself) {
  const std::string reply = "```python\nclass ModelNew:\n    v = 1\n```\nWait, better:\n```python\nclass ModelNew:\n    v = 2\n```\n";
  EXPECT_EQ(pv::extract_candidate(reply).value(), "class ModelNew:\n    v = 2\n");
}

TEST(extract_candidate, keeps_backticks_inside_a_longer_fence) {
  const std::string body = "class ModelNew:\n    doc = '''\n```\nnot a fence end\n```\n'''\n";
  const std::string reply = "````python\n" + body + "````\n";
  EXPECT_EQ(pv::extract_candidate(reply).value(), body);
}

TEST(extract_candidate, takes_an_unterminated_last_block_of_a_truncated_reply) {
  const std::string reply = std::string("```python\n") + kModelNew + "    def forward(self, x):";
  EXPECT_EQ(pv::extract_candidate(reply).value(), std::string(kModelNew) + "    def forward(self, x):\n");
}

TEST(extract_candidate, takes_bare_code_without_fences) {
  const std::string reply = std::string("Sure.\n") + kModelNew;
  EXPECT_EQ(pv::extract_candidate(reply).value(), kModelNew);
}

TEST(extract_candidate, does_not_mistake_a_mention_or_a_similar_name_for_a_definition) {
  EXPECT_FALSE(pv::extract_candidate("```python\nclass ModelNewer:\n    pass\n```").ok());
  EXPECT_FALSE(pv::extract_candidate("You should write `class ModelNew` yourself.").ok());
}

TEST(extract_candidate, reports_blocks_without_model_new) {
  auto r = pv::extract_candidate("```cpp\nint x;\n```\n```\nclass Model: pass\n```\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, "no_candidate");
  EXPECT_EQ(r.failure().message, "2 code blocks in the reply, none defines class ModelNew");
}

TEST(extract_candidate, reports_a_reply_without_code) {
  auto r = pv::extract_candidate("I am sorry, I cannot do that.");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failure().message.find("no code"), std::string::npos);
  EXPECT_EQ(pv::extract_candidate("  \n").failure().message, "the reply is empty");
}

TEST(extract_candidate, copes_with_windows_line_endings) {
  const std::string reply = "```python\r\nclass ModelNew:\r\n    pass\r\n```\r\n";
  EXPECT_EQ(pv::extract_candidate(reply).value(), "class ModelNew:\n    pass\n");
}
