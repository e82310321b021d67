#include "common/size_spec.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace flopd {
namespace {

using Sizes = std::vector<int64_t>;

Sizes Parse(const std::string& spec) {
  absl::StatusOr<Sizes> sizes = ParseSizeSpec(spec);
  EXPECT_TRUE(sizes.ok()) << "'" << spec << "': " << sizes.status();
  return sizes.ok() ? *sizes : Sizes{};
}

// The error of a spec that must be rejected; fails the test if it is accepted.
std::string ErrorOf(const std::string& spec) {
  absl::StatusOr<Sizes> sizes = ParseSizeSpec(spec);
  if (sizes.ok()) {
    ADD_FAILURE() << "'" << spec << "' was accepted; expected INVALID_ARGUMENT";
    return "";
  }
  EXPECT_EQ(sizes.status().code(), absl::StatusCode::kInvalidArgument) << "'" << spec << "'";
  const std::string message(sizes.status().message());
  EXPECT_EQ(message.rfind("sizes:", 0), 0u) << "'" << spec << "': " << message;
  return message;
}

TEST(SizeSpecTest, SingleSize) { EXPECT_EQ(Parse("2000"), (Sizes{2000})); }

TEST(SizeSpecTest, SeedRangeIs38SizesWithStopExclusive) {
  Sizes sizes = Parse("1000:20000:500");
  ASSERT_EQ(sizes.size(), 38u);
  EXPECT_EQ(sizes.front(), 1000);
  EXPECT_EQ(sizes.back(), 19500);
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(sizes[i], 1000 + 500 * static_cast<int64_t>(i)) << i;
  }
}

TEST(SizeSpecTest, RangeWhoseStepOvershootsStop) {
  EXPECT_EQ(Parse("1000:4500:1000"), (Sizes{1000, 2000, 3000, 4000}));
  EXPECT_EQ(Parse("5:10:100"), (Sizes{5}));
  EXPECT_EQ(Parse("1:2:1"), (Sizes{1}));
}

TEST(SizeSpecTest, HugeStepDoesNotOverflow) {
  // n += step must not wrap around to negative sizes.
  EXPECT_EQ(Parse("1:10:9223372036854775807"), (Sizes{1}));
  EXPECT_EQ(Parse("99999990:100000001:9223372036854775000"), (Sizes{99999990}));
}

TEST(SizeSpecTest, ListKeepsTheOrderWritten) {
  EXPECT_EQ(Parse("1000,2000,4000"), (Sizes{1000, 2000, 4000}));
  EXPECT_EQ(Parse("4000,1000,2000"), (Sizes{4000, 1000, 2000}));
}

TEST(SizeSpecTest, MixedRangesAndSizes) {
  EXPECT_EQ(Parse("1000:4000:1000,8000"), (Sizes{1000, 2000, 3000, 8000}));
  EXPECT_EQ(Parse("50,1000:3000:1000,7,10:31:10"), (Sizes{50, 1000, 2000, 7, 10, 20, 30}));
}

TEST(SizeSpecTest, DropsRepeatedSizesKeepingTheFirst) {
  EXPECT_EQ(Parse("2000,1000,2000"), (Sizes{2000, 1000}));
  EXPECT_EQ(Parse("1000:3001:1000,2000,3000"), (Sizes{1000, 2000, 3000}));
  EXPECT_EQ(Parse("3000,1000:4000:1000"), (Sizes{3000, 1000, 2000}));
}

TEST(SizeSpecTest, IgnoresWhitespaceAroundNumbers) {
  EXPECT_EQ(Parse(" 1000 , 2000 "), (Sizes{1000, 2000}));
  EXPECT_EQ(Parse(" 1000 : 3000 : 1000 "), (Sizes{1000, 2000}));
  EXPECT_EQ(Parse("\t500\n"), (Sizes{500}));
}

TEST(SizeSpecTest, LimitsOnN) {
  EXPECT_EQ(Parse("100000000"), (Sizes{kMaxN}));
  EXPECT_EQ(Parse("99999999:100000001:1"), (Sizes{kMaxN - 1, kMaxN}));
  EXPECT_NE(ErrorOf("100000001").find("100000001"), std::string::npos);
  ErrorOf("99999999:100000002:1");
  ErrorOf("100000001:100000002:1");
}

TEST(SizeSpecTest, LimitOnTheNumberOfSizes) {
  EXPECT_EQ(Parse("1:10001:1").size(), static_cast<size_t>(kMaxSizesPerSpec));
  // A repeat does not count against the limit; a new size does.
  EXPECT_EQ(Parse("1:10001:1,1,10000").size(), static_cast<size_t>(kMaxSizesPerSpec));
  ErrorOf("1:10002:1");
  ErrorOf("1:10001:1,10001");
  // The biggest range allowed fails fast instead of expanding 10^8 sizes.
  ErrorOf("1:100000001:1");
}

TEST(SizeSpecTest, RejectsEmpty) {
  ErrorOf("");
  ErrorOf("   ");
}

TEST(SizeSpecTest, RejectsNonIntegers) {
  EXPECT_NE(ErrorOf("abc").find("'abc'"), std::string::npos);
  ErrorOf("1.5");
  ErrorOf("1e3");
  ErrorOf("1000x");
  ErrorOf("1:10:x");
  ErrorOf("x:10:1");
  ErrorOf("9223372036854775808");
}

TEST(SizeSpecTest, RejectsNonPositiveN) {
  EXPECT_NE(ErrorOf("0").find(">= 1"), std::string::npos);
  EXPECT_NE(ErrorOf("-5").find(">= 1"), std::string::npos);
  ErrorOf("0:10:1");
  ErrorOf("-10:10:1");
  ErrorOf("1000,0");
}

TEST(SizeSpecTest, RejectsEmptyRanges) {
  ErrorOf("10:5:1");
  ErrorOf("5:5:1");
  ErrorOf("5:-3:1");
}

TEST(SizeSpecTest, RejectsNonPositiveStep) {
  EXPECT_NE(ErrorOf("1:10:0").find("step"), std::string::npos);
  ErrorOf("1:10:-1");
}

TEST(SizeSpecTest, RejectsMalformedRanges) {
  ErrorOf("1:2:3:4");
  ErrorOf("1:10");
  ErrorOf("1::2");
  ErrorOf(":");
}

TEST(SizeSpecTest, RejectsEmptyItems) {
  ErrorOf("1,,2");
  ErrorOf(",1");
  ErrorOf("1,");
  ErrorOf("1, ,2");
}

TEST(SizeSpecTest, ErrorQuotesTheSpecAndSaysWhatIsAllowed) {
  const std::string message = ErrorOf("10:5:1");
  EXPECT_NE(message.find("'10:5:1'"), std::string::npos) << message;
  EXPECT_NE(message.find("start:stop:step"), std::string::npos) << message;
}

}  // namespace
}  // namespace flopd
