#include "common/address.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

HostPort Parse(const std::string& address) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  EXPECT_TRUE(parsed.ok()) << address << ": " << parsed.status();
  return parsed.ok() ? *parsed : HostPort{};
}

std::string ErrorOf(const std::string& address) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (parsed.ok()) {
    ADD_FAILURE() << "'" << address << "' was accepted as " << parsed->host << " port "
                  << parsed->port;
    return "";
  }
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << address;
  return std::string(parsed.status().message());
}

TEST(ParseHostPort, HostAndPortAndBracketedIpv6) {
  HostPort a = Parse("127.0.0.1:50051");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 50051);
  HostPort any = Parse("0.0.0.0:0");
  EXPECT_EQ(any.host, "0.0.0.0");
  EXPECT_EQ(any.port, 0);
  HostPort v6 = Parse("[::1]:65535");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 65535);
  EXPECT_EQ(Parse("gpu01.example.org:7").host, "gpu01.example.org");
  EXPECT_EQ(Parse("h:00080").port, 80);
}

TEST(ParseHostPort, PortsOutsideTheRangeOrNotNumericAreErrors) {
  for (const char* bad : {"127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:abc", "127.0.0.1:-1",
                          "127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80 ", "127.0.0.1:",
                          "127.0.0.1:4294967297", "127.0.0.1:0x50", "nonsense", ":50051",
                          "[]:5", "::1", "dns:///h:5"}) {
    const std::string message = ErrorOf(bad);
    EXPECT_EQ(message, absl::StrCat("'", bad,
                                    "' is not allowed; allowed: HOST:PORT or [IPV6]:PORT with "
                                    "PORT 0..65535"))
        << bad;
  }
}

TEST(ParseHostPort, UnbalancedBracketsAreNamed) {
  for (const char* bad : {"[::1:5", "::1]:5", "a]b:5"}) {
    EXPECT_EQ(ErrorOf(bad), absl::StrCat("'", bad, "': unbalanced [ in the host")) << bad;
  }
}

TEST(ParseHostPort, TheQuotedAddressIsBoundedAndEscaped) {
  const std::string message = ErrorOf(std::string(8000, 'a') + "\n:x");
  EXPECT_LT(message.size(), 200u) << message;
  EXPECT_TRUE(absl::StrContains(message, "more bytes)' is not allowed")) << message;
  EXPECT_EQ(ErrorOf("a\nb:x"), "'a\\nb:x' is not allowed; allowed: HOST:PORT or [IPV6]:PORT "
                               "with PORT 0..65535");
}

TEST(FormatHostPort, BracketsIpv6Only) {
  EXPECT_EQ(FormatHostPort("127.0.0.1", 5), "127.0.0.1:5");
  EXPECT_EQ(FormatHostPort("::1", 5), "[::1]:5");
}

}  // namespace
}  // namespace flopd
