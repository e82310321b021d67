#include "server/auth/access_control.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxTokenBytes = 4096;

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         c == '@';
}

absl::StatusOr<Role> ParseRole(absl::string_view text) {
  if (text == "read") return Role::kRead;
  if (text == "run") return Role::kRun;
  if (text == "admin") return Role::kAdmin;
  return absl::InvalidArgumentError(absl::StrCat("role '", Sanitized(text, kQuotedValueBytes),
                                                 "' is not allowed; allowed: read, run, admin"));
}

// "ipv4:1.2.3.4:5" / "ipv6:[::1]:5" / "unix:..." -> the address part.
absl::string_view AddressOf(absl::string_view peer) {
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (absl::ConsumePrefix(&peer, scheme)) break;
  }
  return peer;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRead: return "read";
    case Role::kRun: return "run";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

std::string Sha256(absl::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

absl::StatusOr<std::vector<AccessEntry>> ParseAccessEntries(absl::string_view text,
                                                            absl::string_view file_name) {
  std::vector<AccessEntry> entries;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line_number, ": ", what));
    };
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> columns =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (columns.empty()) continue;
    if (columns.size() < 3 || columns.size() > 4) {
      return error(absl::StrCat("has ", columns.size(),
                                " columns; allowed: NAME ROLE CREDENTIAL [expires=TIME]"));
    }
    AccessEntry entry;
    entry.name = std::string(columns[0]);
    if (entry.name.size() > kMaxNameBytes ||
        !std::all_of(entry.name.begin(), entry.name.end(), IsNameChar)) {
      return error(absl::StrCat("name '", Sanitized(entry.name, kQuotedValueBytes),
                                "' is not allowed; allowed: 1..64 of A-Z a-z 0-9 . _ - @"));
    }
    for (const AccessEntry& other : entries) {
      if (other.name == entry.name) return error(absl::StrCat("name '", entry.name, "' repeats"));
    }
    absl::StatusOr<Role> role = ParseRole(columns[1]);
    if (!role.ok()) return error(role.status().message());
    entry.role = *role;
    absl::string_view credential = columns[2];
    if (absl::ConsumePrefix(&credential, "sha256:")) {
      std::string bytes;
      if (credential.size() != 64 || !std::all_of(credential.begin(), credential.end(), [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })) {
        return error("credential sha256: needs 64 hex digits (the SHA-256 of the token, e.g. "
                     "printf %s TOKEN | sha256sum)");
      }
      entry.sha256 = absl::HexStringToBytes(credential);
    } else if (absl::ConsumePrefix(&credential, "token:")) {
      if (credential.size() < 16 || credential.size() > kMaxTokenBytes) {
        return error("credential token: needs 16..4096 characters (use a random token, e.g. "
                     "openssl rand -hex 32)");
      }
      entry.sha256 = Sha256(credential);
    } else if (absl::ConsumePrefix(&credential, "cert:")) {
      if (credential.empty()) return error("credential cert: needs a certificate common name");
      entry.kind = AccessEntry::Kind::kCertificate;
      entry.certificate_name = std::string(credential);
      for (const AccessEntry& other : entries) {
        if (other.kind == AccessEntry::Kind::kCertificate &&
            other.certificate_name == entry.certificate_name) {
          return error(absl::StrCat("certificate name '",
                                    Sanitized(entry.certificate_name, kQuotedValueBytes),
                                    "' repeats"));
        }
      }
    } else {
      return error("credential is not allowed; allowed: sha256:HEX, token:TEXT or cert:NAME");
    }
    if (columns.size() == 4) {
      absl::string_view expires = columns[3];
      std::string parse_error;
      if (!absl::ConsumePrefix(&expires, "expires=") ||
          !absl::ParseTime(absl::RFC3339_full, expires, &entry.expires, &parse_error)) {
        return error(absl::StrCat("'", Sanitized(columns[3], kQuotedValueBytes),
                                  "' is not allowed; allowed: expires=TIME with an RFC 3339 time, "
                                  "e.g. expires=2027-01-31T00:00:00Z"));
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

AccessControl::AccessControl(std::vector<AccessEntry> entries)
    : table_(std::make_shared<Table>(Table{std::move(entries)})) {}

absl::StatusOr<std::unique_ptr<AccessControl>> AccessControl::FromFile(
    const std::string& tokens_file) {
  auto access = std::unique_ptr<AccessControl>(new AccessControl());
  access->tokens_file_ = tokens_file;
  if (absl::Status loaded = access->Reload(); !loaded.ok()) return loaded;
  return access;
}

absl::Status AccessControl::Reload() {
  if (tokens_file_.empty()) return absl::OkStatus();
  std::ifstream in(tokens_file_, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the tokens file ", tokens_file_));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<AccessEntry>> entries = ParseAccessEntries(text.str(), tokens_file_);
  if (!entries.ok()) return entries.status();
  auto table = std::make_shared<Table>(Table{*std::move(entries)});
  std::lock_guard<std::mutex> lock(mu_);
  table_ = std::move(table);
  return absl::OkStatus();
}

std::shared_ptr<const AccessControl::Table> AccessControl::table() const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_;
}

std::string AccessControl::Summary() const {
  const std::shared_ptr<const Table> table = this->table();
  if (table == nullptr) return "authorization off (no --tokens)";
  int tokens = 0;
  int certificates = 0;
  for (const AccessEntry& entry : table->entries) {
    (entry.kind == AccessEntry::Kind::kCertificate ? certificates : tokens)++;
  }
  return absl::StrCat(tokens, " tokens, ", certificates, " certificate names");
}

absl::StatusOr<Caller> AccessControl::Identify(const CallFacts& call) const {
  const std::shared_ptr<const Table> table = this->table();
  if (table == nullptr) {
    return Caller{call.certificate_name.empty()
                      ? absl::StrCat("peer:", PeerWithoutPort(call.peer))
                      : absl::StrCat("cert:", call.certificate_name),
                  Role::kAdmin};
  }
  const absl::Time now = absl::Now();
  if (call.has_token) {
    // A token that crossed a network in the clear is as good as public:
    // refused whether or not it is one, so no client gains by sending it.
    if (!call.tls && !call.local_peer) {
      return absl::UnauthenticatedError(
          "bearer tokens are not accepted over plaintext from another machine: connect with TLS "
          "(flopd --tls-cert/--tls-key; flopctl --tls-ca)");
    }
    if (call.token.size() > kMaxTokenBytes) {
      return absl::UnauthenticatedError("the bearer token is not one this flopd knows");
    }
    const std::string digest = Sha256(call.token);
    const AccessEntry* match = nullptr;
    // Every entry compared in constant time, all of them: how long the
    // check takes says nothing about which entry nearly matched.
    for (const AccessEntry& entry : table->entries) {
      if (entry.kind != AccessEntry::Kind::kTokenSha256) continue;
      if (CRYPTO_memcmp(entry.sha256.data(), digest.data(), digest.size()) == 0) match = &entry;
    }
    if (match == nullptr) {
      return absl::UnauthenticatedError("the bearer token is not one this flopd knows");
    }
    if (match->expires <= now) {
      return absl::UnauthenticatedError(
          absl::StrCat("token '", match->name, "' expired at ",
                       absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", match->expires, absl::UTCTimeZone())));
    }
    return Caller{absl::StrCat("token:", match->name), match->role};
  }
  if (!call.certificate_name.empty()) {
    for (const AccessEntry& entry : table->entries) {
      if (entry.kind != AccessEntry::Kind::kCertificate ||
          entry.certificate_name != call.certificate_name) {
        continue;
      }
      if (entry.expires <= now) {
        return absl::UnauthenticatedError(absl::StrCat(
            "certificate name '", Sanitized(entry.certificate_name, kQuotedValueBytes),
            "' (entry '", entry.name, "') expired at ",
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", entry.expires, absl::UTCTimeZone())));
      }
      return Caller{absl::StrCat("cert:", entry.certificate_name), entry.role};
    }
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate '", Sanitized(call.certificate_name, kQuotedValueBytes),
        "' has no entry in the tokens file, and no bearer token was sent"));
  }
  return absl::UnauthenticatedError(
      "no credentials: this flopd needs a bearer token (flopctl: FLOPD_TOKEN_FILE, "
      "--token-file or FLOPD_TOKEN; HTTP: Authorization: Bearer TOKEN)");
}

absl::StatusOr<Caller> AccessControl::Authorize(const CallFacts& call, Role needed,
                                                absl::string_view what) const {
  absl::StatusOr<Caller> caller = Identify(call);
  if (!caller.ok()) return caller;
  if (static_cast<int>(caller->role) < static_cast<int>(needed)) {
    return absl::PermissionDeniedError(absl::StrCat(caller->identity, " has role ",
                                                    RoleName(caller->role), "; ", what, " needs ",
                                                    RoleName(needed)));
  }
  return caller;
}

bool IsLocalPeer(absl::string_view peer) {
  if (absl::StartsWith(peer, "unix:") || absl::StartsWith(peer, "unix-abstract:")) return true;
  const bool has_scheme = absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:");
  absl::string_view address = AddressOf(peer);
  if (absl::ConsumePrefix(&address, "[")) {
    address = address.substr(0, address.find(']'));
  } else if (has_scheme && absl::StartsWith(peer, "ipv4:")) {
    address = address.substr(0, address.find(':'));  // the port
  }
  return IsLoopbackHost(address);
}

std::string PeerWithoutPort(absl::string_view peer) {
  if (absl::StartsWith(peer, "unix")) return std::string(peer);
  const size_t colon = peer.rfind(':');
  const size_t bracket = peer.rfind(']');
  if (colon == absl::string_view::npos || colon < 5 ||
      (bracket != absl::string_view::npos && colon < bracket)) {
    return std::string(peer);
  }
  return std::string(peer.substr(0, colon));
}

}  // namespace flopd
