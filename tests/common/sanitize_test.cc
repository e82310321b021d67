#include "common/sanitize.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/dtype.h"
#include "common/history_query.h"
#include "common/job_plan.h"
#include "common/job_record.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "common/size_spec.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(Sanitized, PlainTextIsKeptAsIs) {
  EXPECT_EQ(Sanitized("flopctl pid 42", 200), "flopctl pid 42");
  EXPECT_EQ(Sanitized("", 200), "");
  EXPECT_EQ(Sanitized("Zoë's run ✓ \\n", 200), "Zoë's run ✓ \\n");  // UTF-8 and backslash kept
}

TEST(Sanitized, ControlCharactersCannotBreakALine) {
  EXPECT_EQ(Sanitized("a\nb\rc\td", 200), "a\\nb\\rc\\td");
  EXPECT_EQ(Sanitized(std::string("x\0y", 3), 200), "x\\x00y");
  EXPECT_EQ(Sanitized("\x01\x1b[31m\x7f", 200), "\\x01\\x1b[31m\\x7f");
  EXPECT_EQ(Sanitized("\xc2\x85next", 200), "\\xc2\\x85next");  // U+0085, NEXT LINE
  const std::string forged = Sanitized("me\n2026-01-01T00:00:00 flopd: forged", 200);
  EXPECT_EQ(forged.find('\n'), std::string::npos) << forged;
}

TEST(Sanitized, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(Sanitized("\xff\xfe", 200), "\\xff\\xfe");
  EXPECT_EQ(Sanitized("a\xc3", 200), "a\\xc3");                // truncated sequence
  EXPECT_EQ(Sanitized("\xc0\xaf", 200), "\\xc0\\xaf");         // overlong '/'
  EXPECT_EQ(Sanitized("\xed\xa0\x80", 200), "\\xed\\xa0\\x80");  // a surrogate
}

TEST(Sanitized, EscapingTwiceChangesNothing) {
  const std::string once = Sanitized("a\nb\x01\xff\xc2\x85 ✓", 200);
  EXPECT_EQ(Sanitized(once, 200), once);
}

TEST(Sanitized, LongTextIsCutAndSaysHowMuchWasLeftOut) {
  const std::string text(1 << 20, 'x');
  const std::string out = Sanitized(text, 200);
  EXPECT_EQ(out, std::string(200, 'x') + "…(" + std::to_string((1 << 20) - 200) + " more bytes)");
  EXPECT_EQ(Sanitized(std::string(64, 'y'), 64), std::string(64, 'y')) << "exactly the bound";
  EXPECT_EQ(Sanitized(std::string(65, 'y'), 64), std::string(64, 'y') + "…(1 more bytes)");
}

TEST(Sanitized, TheBoundCountsEscapedBytesAndNeverSplitsACharacter) {
  // 100 newlines escape to 200 bytes; the bound of 10 keeps 5 of them.
  EXPECT_EQ(Sanitized(std::string(100, '\n'), 10), "\\n\\n\\n\\n\\n…(95 more bytes)");
  // "é" is 2 bytes: 3 of them fit in 7 bytes, the 4th is not split.
  EXPECT_EQ(Sanitized("éééé", 7), "ééé…(2 more bytes)");
  EXPECT_EQ(Sanitized("\xff\xff", 5), "\\xff…(1 more bytes)");
}

// A client's value of ~8 KB quoted whole made a status message too big for
// gRPC's metadata (the client saw "received initial metadata size exceeds
// limit" instead of the error): every message that quotes a client's value
// quotes a bounded, escaped prefix of it.
TEST(ClientValuesInErrors, AreQuotedAsABoundedEscapedPrefix) {
  const std::string big = "x\n" + std::string(8190, 'x');
  auto check = [&](const absl::Status& status, const std::string& what) {
    ASSERT_FALSE(status.ok()) << what;
    const std::string message(status.message());
    EXPECT_LT(message.size(), 400u) << what << ": " << message.substr(0, 400);
    EXPECT_EQ(message.find('\n'), std::string::npos) << what << ": " << message.substr(0, 400);
    EXPECT_TRUE(absl::StrContains(message, "'x\\nxxx")) << what << ": " << message.substr(0, 400);
    EXPECT_TRUE(absl::StrContains(message, "more bytes)'")) << what << ": "
                                                              << message.substr(0, 400);
  };
  check(FindOp(big).status(), "FindOp");
  check(ResolvePoint(PointSpec{"matvec", big, {}, DType::kF32, 8}).status(), "ResolvePoint");
  check(ParseDType(big).status(), "ParseDType");
  check(ParseSizeSpec(big).status(), "ParseSizeSpec");
  check(ParseJobState(big).status(), "ParseJobState");
  TimingMode mode;
  check(ParseTimingMode(big, &mode), "ParseTimingMode");

  JobRequest unknown_impl;
  unknown_impl.ops = {"matvec"};
  unknown_impl.impls = {big};
  check(PlanJob(unknown_impl, "cpu", "8").status(), "PlanJob impls");
  JobRequest unknown_param;
  unknown_param.ops = {"outer"};
  unknown_param.params = {{big, {0}}};
  check(PlanJob(unknown_param, "cpu", "8").status(), "PlanJob params");
  JobRequest bad_sizes;
  bad_sizes.ops = {"outer"};
  bad_sizes.sizes = big;
  check(PlanJob(bad_sizes, "cpu", "8").status(), "PlanJob sizes");

  for (int field = 0; field < 6; ++field) {
    ResultFilter filter;
    std::vector<std::string>* values[] = {&filter.job_ids, &filter.devices, &filter.ops,
                                          &filter.impls,   &filter.params,  &filter.dtypes};
    values[field]->push_back(big);
    check(NormalizeResultFilter(&filter), "NormalizeResultFilter field " + std::to_string(field));
  }
  JobFilter jobs;
  jobs.states = {big};
  check(NormalizeJobFilter(&jobs), "NormalizeJobFilter states");
  JobFilter devices;
  devices.devices = {big};
  check(NormalizeJobFilter(&devices), "NormalizeJobFilter devices");
}

}  // namespace
}  // namespace flopd
