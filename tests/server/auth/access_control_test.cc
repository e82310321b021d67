// The tokens file and the role checks (server/auth/access_control.h), without
// any transport: every decision Authorize() makes from CallFacts.
#include "server/auth/access_control.h"

#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

constexpr char kRunToken[] = "run-token-0123456789";
constexpr char kFile[] =
    "# comment line\n"
    "\n"
    "reader  read   sha256:"
    // printf %s read-token-0123456789 | sha256sum
    "PLACEHOLDER\n"
    "runner  run    token:run-token-0123456789   # trailing comment\n"
    "boss    admin  token:admin-token-0123456789 expires=2999-01-01T00:00:00Z\n"
    "old     admin  token:old-token-0123456789 expires=2020-01-01T00:00:00Z\n"
    "ops     admin  cert:ops.example.com\n";

std::string File() {
  std::string text = kFile;
  const std::string digest = absl::BytesToHexString(Sha256("read-token-0123456789"));
  text.replace(text.find("PLACEHOLDER"), 11, digest);
  return text;
}

AccessControl Access() {
  absl::StatusOr<std::vector<AccessEntry>> entries = ParseAccessEntries(File(), "tokens");
  EXPECT_TRUE(entries.ok()) << entries.status();
  return AccessControl(*entries);
}

CallFacts Token(const std::string& token, bool tls = true, bool local = false) {
  CallFacts call;
  call.has_token = true;
  call.token = token;
  call.tls = tls;
  call.local_peer = local;
  call.peer = local ? "ipv4:127.0.0.1:5000" : "ipv4:10.1.2.3:5000";
  return call;
}

TEST(AccessControl, EachCredentialGetsItsRoleAndName) {
  const AccessControl access = Access();
  struct Case {
    CallFacts call;
    std::string identity;
    Role role;
  };
  CallFacts cert;
  cert.tls = true;
  cert.certificate_name = "ops.example.com";
  for (const Case& c : {Case{Token("read-token-0123456789"), "token:reader", Role::kRead},
                        Case{Token(kRunToken), "token:runner", Role::kRun},
                        Case{Token("admin-token-0123456789"), "token:boss", Role::kAdmin},
                        Case{cert, "cert:ops.example.com", Role::kAdmin}}) {
    absl::StatusOr<Caller> caller = access.Identify(c.call);
    ASSERT_TRUE(caller.ok()) << caller.status();
    EXPECT_EQ(caller->identity, c.identity);
    EXPECT_EQ(caller->role, c.role);
  }
}

TEST(AccessControl, RolesAreOrderedAndDenialsNameWhatWasNeeded) {
  const AccessControl access = Access();
  EXPECT_TRUE(access.Authorize(Token(kRunToken), Role::kRead, "ListOps").ok());
  EXPECT_TRUE(access.Authorize(Token(kRunToken), Role::kRun, "Run").ok());
  absl::StatusOr<Caller> denied = access.Authorize(Token(kRunToken), Role::kAdmin, "X");
  EXPECT_TRUE(absl::IsPermissionDenied(denied.status()));
  EXPECT_EQ(denied.status().message(), "token:runner has role run; X needs admin");
}

TEST(AccessControl, UnknownExpiredMissingAndCleartextRemoteTokensAreUnauthenticated) {
  const AccessControl access = Access();
  auto message = [&](const CallFacts& call) {
    absl::StatusOr<Caller> caller = access.Identify(call);
    EXPECT_TRUE(absl::IsUnauthenticated(caller.status())) << caller.status();
    return std::string(caller.status().message());
  };
  EXPECT_EQ(message(Token("nobody-0123456789abc")), "the bearer token is not one this flopd knows");
  EXPECT_EQ(message(Token(std::string(100000, 'x'))), "the bearer token is not one this flopd knows");
  EXPECT_EQ(message(Token("old-token-0123456789")), "token 'old' expired at 2020-01-01T00:00:00Z");
  EXPECT_TRUE(absl::StartsWith(message(CallFacts()), "no credentials"));
  // A valid token in the clear from another machine: refused all the same.
  EXPECT_TRUE(absl::StrContains(message(Token(kRunToken, /*tls=*/false, /*local=*/false)),
                                "not accepted over plaintext"));
  // ... but from this machine it is fine.
  EXPECT_TRUE(access.Identify(Token(kRunToken, /*tls=*/false, /*local=*/true)).ok());
  CallFacts stranger;
  stranger.tls = true;
  stranger.certificate_name = "stranger";
  EXPECT_TRUE(absl::StrContains(message(stranger), "client certificate 'stranger' has no entry"));
}

TEST(AccessControl, WithoutATokensFileEveryoneIsAnAdminNamedByCertificateOrAddress) {
  const AccessControl off;
  EXPECT_FALSE(off.enabled());
  CallFacts call;
  call.peer = "ipv4:10.0.0.5:51234";
  absl::StatusOr<Caller> caller = off.Authorize(call, Role::kAdmin, "X");
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->identity, "peer:ipv4:10.0.0.5");
  call.certificate_name = "alice";
  EXPECT_EQ(off.Identify(call)->identity, "cert:alice");
}

TEST(AccessControl, BadLinesAreRefusedNamingFileLineAndWhatIsAllowed) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"a read", "tokens:1: has 2 columns; allowed: NAME ROLE CREDENTIAL [expires=TIME]"},
           {"a root token:0123456789abcdef", "tokens:1: role 'root' is not allowed; allowed: "
                                             "read, run, admin"},
           {"a read password:x", "tokens:1: credential is not allowed; allowed: sha256:HEX, "
                                 "token:TEXT or cert:NAME"},
           {"a read token:short", "tokens:1: credential token: needs 16..4096 characters"},
           {"a read sha256:abc", "tokens:1: credential sha256: needs 64 hex digits"},
           {"a read cert:", "tokens:1: credential cert: needs a certificate common name"},
           {"a read token:0123456789abcdef\nb", "tokens:2: has 1 columns"},
           {"b/c read token:0123456789abcdef", "tokens:1: name 'b/c' is not allowed"},
           {"a read token:0123456789abcdef\na run token:0123456789abcdeg", "tokens:2: name 'a' repeats"},
           {"a read cert:x\nb run cert:x", "tokens:2: certificate name 'x' repeats"},
           {"a read token:0123456789abcdef tomorrow",
            "tokens:1: 'tomorrow' is not allowed; allowed: expires=TIME"},
       }) {
    absl::StatusOr<std::vector<AccessEntry>> entries = ParseAccessEntries(c.text, "tokens");
    ASSERT_FALSE(entries.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(entries.status()));
    EXPECT_TRUE(absl::StartsWith(entries.status().message(), c.message))
        << entries.status().message();
    // No secret is quoted back.
    EXPECT_FALSE(absl::StrContains(entries.status().message(), "0123456789abcdef"));
  }
}

TEST(AccessControl, ReloadSwapsTheTableAndKeepsItWhenTheNewFileIsBad) {
  const std::string path = ::testing::TempDir() + "/access_control_test_tokens";
  std::ofstream(path, std::ios::trunc) << "runner run token:" << kRunToken << "\n";
  absl::StatusOr<std::unique_ptr<AccessControl>> access = AccessControl::FromFile(path);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_TRUE((*access)->Identify(Token(kRunToken)).ok());
  std::ofstream(path, std::ios::trunc) << "other run token:other-token-0123456789\n";
  ASSERT_TRUE((*access)->Reload().ok());
  EXPECT_FALSE((*access)->Identify(Token(kRunToken)).ok());
  EXPECT_TRUE((*access)->Identify(Token("other-token-0123456789")).ok());
  std::ofstream(path, std::ios::trunc) << "broken\n";
  EXPECT_FALSE((*access)->Reload().ok());
  EXPECT_TRUE((*access)->Identify(Token("other-token-0123456789")).ok());
  EXPECT_EQ((*access)->Summary(), "1 tokens, 0 certificate names");
}

TEST(AccessControl, LocalPeersAreLoopbackAndUnixSocketsOnly) {
  for (const char* local : {"ipv4:127.0.0.1:5000", "ipv4:127.8.9.10:1", "ipv6:[::1]:5000",
                            "ipv6:[::ffff:127.0.0.1]:80", "unix:/run/flopd.sock", "unix:",
                            "127.0.0.1", "::1"}) {
    EXPECT_TRUE(IsLocalPeer(local)) << local;
  }
  for (const char* remote : {"ipv4:10.0.0.1:5000", "ipv6:[2001:db8::1]:5000", "ipv4:0.0.0.0:1",
                             "ipv6:[::]:1", "ipv4:128.0.0.1:1", "ipv6:[::ffff:10.0.0.1]:1",
                             "10.0.0.1", "", "ipv4:127.0.0.1.evil.com:1"}) {
    EXPECT_FALSE(IsLocalPeer(remote)) << remote;
  }
  EXPECT_EQ(PeerWithoutPort("ipv4:10.0.0.5:51234"), "ipv4:10.0.0.5");
  EXPECT_EQ(PeerWithoutPort("ipv6:[::1]:51234"), "ipv6:[::1]");
  EXPECT_EQ(PeerWithoutPort("unix:/run/x.sock"), "unix:/run/x.sock");
}

}  // namespace
}  // namespace flopd
