#include "common/command_line.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace flopd {
namespace {

using Args = std::vector<std::string>;

const std::vector<FlagSpec>& Specs() {
  static const std::vector<FlagSpec>* const specs = new std::vector<FlagSpec>{
      {"host", "H[,H...]", "hosts to run on", "127.0.0.1"},
      {"sizes", "SPEC", "sizes to sweep", ""},
      {"verbose", "", "print more", ""},
  };
  return *specs;
}

std::string ErrorOf(const Args& args) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(args, Specs());
  if (parsed.ok()) {
    ADD_FAILURE() << "accepted; expected INVALID_ARGUMENT";
    return "";
  }
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(ParseFlagsTest, SeparateAndInlineValues) {
  absl::StatusOr<ParsedFlags> parsed =
      ParseFlags({"--host", "a,b", "--sizes=1000:4000:1000,8000"}, Specs());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("host"), "a,b");
  EXPECT_EQ(parsed->Get("sizes"), "1000:4000:1000,8000");
  EXPECT_TRUE(parsed->positional.empty());
}

TEST(ParseFlagsTest, InlineValueMayContainEqualsAndBeEmpty) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags({"--sizes=a=b", "--host="}, Specs());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("sizes"), "a=b");
  EXPECT_TRUE(parsed->Has("host"));
  EXPECT_EQ(parsed->Get("host", "fallback"), "");
}

TEST(ParseFlagsTest, BooleansPositionalsAndFallbacks) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags({"run", "--verbose", "-", "x"}, Specs());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->Has("verbose"));
  EXPECT_EQ(parsed->Get("verbose"), "true");
  EXPECT_EQ(parsed->positional, (Args{"run", "-", "x"}));
  EXPECT_FALSE(parsed->Has("host"));
  EXPECT_EQ(parsed->Get("host"), "");
  EXPECT_EQ(parsed->Get("host", "127.0.0.1"), "127.0.0.1");
}

TEST(ParseFlagsTest, LastValueWins) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags({"--host", "a", "--host=b"}, Specs());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("host"), "b");
}

TEST(ParseFlagsTest, Errors) {
  EXPECT_EQ(ErrorOf({"--nope"}), "unknown flag --nope; see --help");
  EXPECT_EQ(ErrorOf({"--nope=1"}), "unknown flag --nope; see --help");
  EXPECT_EQ(ErrorOf({"--verbose=yes"}), "--verbose takes no value");
  EXPECT_EQ(ErrorOf({"--sizes", "10", "--host"}), "--host: missing value; expected H[,H...]");
}

TEST(FlagsHelpTest, OneLinePerFlagWithDefaults) {
  const std::string help = FlagsHelp(Specs());
  EXPECT_EQ(help,
            "  --host H[,H...]         hosts to run on (default: 127.0.0.1)\n"
            "  --sizes SPEC            sizes to sweep\n"
            "  --verbose               print more\n");
}

TEST(FlagsHelpTest, LongFlagsWrapTheHelpOntoTheNextLine) {
  const std::string help = FlagsHelp({{"a-very-long-flag-name", "VALUE", "does things", ""}});
  EXPECT_EQ(help, "  --a-very-long-flag-name VALUE\n" + std::string(26, ' ') + "does things\n");
}

TEST(SplitListTest, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(SplitList("a,b,,c"), (Args{"a", "b", "c"}));
  EXPECT_EQ(SplitList(" a , b ,  "), (Args{"a", "b"}));
  EXPECT_TRUE(SplitList("").empty());
  EXPECT_TRUE(SplitList(" , ,").empty());
}

}  // namespace
}  // namespace flopd
