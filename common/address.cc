#include "common/address.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/sanitize.h"

namespace flopd {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view address) {
  const std::string quoted = absl::StrCat("'", Sanitized(address, kQuotedValueBytes), "'");
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat(quoted, " is not allowed; allowed: ", kHostPortForm));
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad;
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port_text = address.substr(colon + 1);
  // Digits only (no sign, no spaces), at most 5 of them, at most 65535.
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return absl::ascii_isdigit(c); })) {
    return bad;
  }
  int port = 0;
  for (char c : port_text) port = port * 10 + (c - '0');
  if (port > 65535) return bad;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') {
      return absl::InvalidArgumentError(absl::StrCat(quoted, ": unbalanced [ in the host"));
    }
    host = host.substr(1, host.size() - 2);
    if (host.empty()) return bad;
  } else if (host.find_first_of("[]:") != absl::string_view::npos) {
    // An IPv6 address needs its brackets; a stray bracket is no host.
    return host.find(':') != absl::string_view::npos &&
                   host.find_first_of("[]") == absl::string_view::npos
               ? bad
               : absl::InvalidArgumentError(absl::StrCat(quoted, ": unbalanced [ in the host"));
  }
  if (host.empty()) return bad;
  return HostPort{std::string(host), port};
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  absl::ConsumePrefix(&host, "::ffff:");
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4) return false;
  for (absl::string_view octet : octets) {
    int value = -1;
    if (octet.empty() || octet.size() > 3 || !absl::SimpleAtoi(octet, &value) || value < 0 ||
        value > 255) {
      return false;
    }
  }
  return octets[0] == "127";
}

std::string FormatHostPort(absl::string_view host, int port) {
  return host.find(':') == absl::string_view::npos ? absl::StrCat(host, ":", port)
                                                   : absl::StrCat("[", host, "]:", port);
}

}  // namespace flopd
