// Who may do what on a flopd (docs/SECURITY.md): bearer tokens and client
// certificate names from a file (--tokens), each with a role, checked for
// every gRPC call and every HTTP request. Transport-neutral: the front ends
// turn their call into CallFacts (the token they were sent, whether the
// transport is TLS, whether the peer is local, the verified certificate
// name) and ask Authorize(); the gRPC and HTTP glue is in the front ends.
//
// Without a tokens file authorization is off: every caller may do
// everything (the loopback default; TLS with client certificates may still
// decide who connects at all).
//
// Thread-safe: Authorize() runs concurrently with Reload() (SIGHUP), which
// swaps the whole table at once.
#ifndef FLOPD_SERVER_AUTH_ACCESS_CONTROL_H_
#define FLOPD_SERVER_AUTH_ACCESS_CONTROL_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace flopd {

// Ordered: each role may do everything the ones below it may.
//   read:  host info, ops, jobs, results, watch, /metrics, the dashboard
//   run:   + run jobs and cancel its own
//   admin: + cancel anyone's job, re-measure the ceilings
enum class Role { kRead = 1, kRun = 2, kAdmin = 3 };

const char* RoleName(Role role);

// What a front end knows about one call.
struct CallFacts {
  // The bearer token sent with the call ("authorization: Bearer T" in gRPC
  // metadata or HTTP; HTTP Basic's password too), if any.
  bool has_token = false;
  std::string token;
  // The transport is TLS (gRPC's transport_security_type "ssl", HTTPS).
  bool tls = false;
  // The peer is on this machine: a loopback address or the Unix socket.
  bool local_peer = false;
  // The common name of a client certificate that TLS verified against
  // --tls-client-ca; empty when none was presented.
  std::string certificate_name;
  // The peer as the transport names it ("ipv4:10.0.0.5:51234", "unix:"),
  // for logs and, when nothing else identifies the caller, as its name.
  std::string peer;
};

// Who a call is from, once authorized.
struct Caller {
  // "token:NAME", "cert:COMMON-NAME", or, with authorization off, the
  // certificate name or "peer:ADDRESS" without the port.
  std::string identity;
  Role role = Role::kRead;
};

// One line of the tokens file, parsed.
struct AccessEntry {
  std::string name;
  Role role = Role::kRead;
  enum class Kind { kTokenSha256, kCertificate } kind = Kind::kTokenSha256;
  std::string sha256;            // 32 raw bytes, for kTokenSha256
  std::string certificate_name;  // for kCertificate
  absl::Time expires = absl::InfiniteFuture();
};

// Parses the tokens file's text (the format is in docs/SECURITY.md):
//   NAME ROLE CREDENTIAL [expires=RFC3339-TIME]
// with CREDENTIAL one of sha256:HEX (the SHA-256 of the token), token:TEXT
// (the token itself) or cert:COMMON-NAME; '#' starts a comment. Errors are
// INVALID_ARGUMENT "FILE:LINE: ..." naming the column and what is allowed;
// no secret is quoted.
absl::StatusOr<std::vector<AccessEntry>> ParseAccessEntries(absl::string_view text,
                                                            absl::string_view file_name);

// The SHA-256 of `text`, 32 raw bytes.
std::string Sha256(absl::string_view text);

class AccessControl {
 public:
  // Authorization off: every caller is an admin.
  AccessControl() = default;
  // Reads `tokens_file` (see ParseAccessEntries). An unreadable file or a
  // bad line is an error: flopd does not start half-protected.
  static absl::StatusOr<std::unique_ptr<AccessControl>> FromFile(const std::string& tokens_file);
  // From entries already parsed (tests).
  explicit AccessControl(std::vector<AccessEntry> entries);

  bool enabled() const { return !tokens_file_.empty() || table_ != nullptr; }
  const std::string& tokens_file() const { return tokens_file_; }
  // Names of the entries by role, e.g. "3 tokens, 1 certificate name".
  std::string Summary() const;

  // Re-reads the tokens file (SIGHUP). On an error the table in use is
  // kept and the error returned.
  absl::Status Reload();

  // Who the call is from and whether it may do what needs `needed`:
  //  UNAUTHENTICATED: no credential, an unknown or expired token, or a
  //    token sent in the clear from another machine (refused whatever it
  //    is, so that it is never worth sending one);
  //  PERMISSION_DENIED: a known caller whose role is below `needed`;
  //    `what` names the action in the message ("Run", "GET /metrics").
  absl::StatusOr<Caller> Authorize(const CallFacts& call, Role needed,
                                   absl::string_view what) const;

  // Only who the call is from (no role needed), or the UNAUTHENTICATED
  // reason; what Authorize() checks first.
  absl::StatusOr<Caller> Identify(const CallFacts& call) const;

 private:
  struct Table {
    std::vector<AccessEntry> entries;
  };
  std::shared_ptr<const Table> table() const;

  std::string tokens_file_;
  mutable std::mutex mu_;
  std::shared_ptr<const Table> table_;  // guarded by mu_; null = authorization off
};

// A peer string from gRPC ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000",
// "ipv6:[::ffff:127.0.0.1]:5000", "unix:/run/flopd.sock", "unix:") or an IP
// address alone: is it this machine?
bool IsLocalPeer(absl::string_view peer);

// "ipv4:10.0.0.5:51234" -> "ipv4:10.0.0.5": the peer without its port.
std::string PeerWithoutPort(absl::string_view peer);

}  // namespace flopd

#endif  // FLOPD_SERVER_AUTH_ACCESS_CONTROL_H_
