// The host path's spill: bytes written read back, the memory budget a trial may claim,
// and a comparison that gives the same verdict and figures whether the tensors lie in
// memory or in the spill file (a trial within the budget keeps them in memory).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "compare_support.hpp"
#include "kopt/verify/value.hpp"

namespace {

using namespace kopt_test;
using kopt::verify::Spill;

std::shared_ptr<Spill> open_spill(uint64_t budget) {
  auto spill = Spill::open(::testing::TempDir(), budget);
  EXPECT_TRUE(spill.ok());
  return spill.ok() ? spill.value() : nullptr;
}

// `v` with its bytes moved into `spill` (as stream.cpp does above the budget).
Value spilled(Value v, const std::shared_ptr<Spill>& spill) {
  const std::string bytes(v.tensor.bytes());
  v.tensor.storage.reset();
  v.tensor.spill = spill;
  v.tensor.file_offset = spill->reserve(bytes.size());
  EXPECT_TRUE(spill->write(v.tensor.file_offset, bytes.data(), bytes.size()).ok());
  return v;
}

TEST(spill, bytes_written_read_back_at_their_offsets) {
  auto spill = open_spill(0);
  ASSERT_TRUE(spill);
  const std::string a(1000, 'a'), b(3000, 'b');
  const uint64_t at_a = spill->reserve(a.size()), at_b = spill->reserve(b.size());
  EXPECT_EQ(at_b % 64, 0u);
  ASSERT_TRUE(spill->write(at_b, b.data(), b.size()).ok());
  ASSERT_TRUE(spill->write(at_a, a.data(), a.size()).ok());
  std::string back(b.size(), '\0');
  ASSERT_TRUE(spill->read(at_b, back.data(), back.size()).ok());
  EXPECT_EQ(back, b);
  back.resize(a.size());
  ASSERT_TRUE(spill->read(at_a, back.data(), back.size()).ok());
  EXPECT_EQ(back, a);
}

TEST(spill, claims_stop_at_the_budget_until_reset) {
  auto spill = open_spill(100);
  ASSERT_TRUE(spill);
  EXPECT_TRUE(spill->claim(60));
  EXPECT_FALSE(spill->claim(41));
  EXPECT_TRUE(spill->claim(40));
  EXPECT_FALSE(spill->claim(1));
  spill->reset();
  EXPECT_TRUE(spill->claim(100));
  EXPECT_FALSE(open_spill(0)->claim(1));
}

TEST(spill, comparison_from_the_spill_matches_the_one_in_memory) {
  auto spill = open_spill(0);
  ASSERT_TRUE(spill);
  // More than one chunk of the comparison (2^16 elements), one element wrong.
  const size_t n = (size_t{1} << 16) * 2 + 123;
  auto r64 = smooth(n);
  auto r32 = rounded(r64);
  auto c = r32;
  c[n - 5] += 1.0f;
  const Comparison mem = compare(f32(c), f32(r32), f64(r64));
  const Comparison file = compare(spilled(f32(c), spill), spilled(f32(r32), spill), spilled(f64(r64), spill));
  EXPECT_FALSE(mem.ok);
  EXPECT_EQ(file.ok, mem.ok);
  EXPECT_EQ(file.check, mem.check);
  EXPECT_EQ(file.figures.elements_over, mem.figures.elements_over);
  EXPECT_EQ(file.figures.elements_compared, mem.figures.elements_compared);
  EXPECT_DOUBLE_EQ(file.figures.norm_error, mem.figures.norm_error);
  EXPECT_DOUBLE_EQ(file.figures.max_abs_error, mem.figures.max_abs_error);
}

}  // namespace
