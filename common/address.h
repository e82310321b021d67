// Network addresses as flopd and flopctl take them on the command line:
// HOST:PORT or [IPV6]:PORT, with PORT a decimal number 0..65535. One parser,
// so `flopd --listen`, `flopd --http-listen` and `flopctl --host` accept and
// refuse the same shapes (a port such as 99999 or "abc" is an error, never
// some other port).
//
// Thread-safe: pure functions.
#ifndef FLOPD_COMMON_ADDRESS_H_
#define FLOPD_COMMON_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flopd {

struct HostPort {
  std::string host;  // without the brackets of an IPv6 address
  int port = 0;
};

// The form, for messages: "HOST:PORT or [IPV6]:PORT with PORT 0..65535".
inline constexpr char kHostPortForm[] = "HOST:PORT or [IPV6]:PORT with PORT 0..65535";

// Parses HOST:PORT or [IPV6]:PORT. The host must be non-empty and, unless
// bracketed, hold no ':'; the port is decimal digits only, 0..65535.
// INVALID_ARGUMENT, with the value quoted (bounded, common/sanitize.h) and
// without a flag name, which the caller puts in front: "'ADDR' is not
// allowed; allowed: HOST:PORT or [IPV6]:PORT with PORT 0..65535" (or, for an
// unbalanced bracket, "'ADDR': unbalanced [ in the host").
absl::StatusOr<HostPort> ParseHostPort(absl::string_view address);

// Whether `host` (as ParseHostPort returns it: no brackets, no port) is
// this machine only: "localhost", 127.0.0.0/8, ::1 or ::ffff:127.x.x.x.
// 0.0.0.0 and :: are every interface, not loopback.
bool IsLoopbackHost(absl::string_view host);

// "host:port", or "[v6]:port" when the host holds a ':'.
std::string FormatHostPort(absl::string_view host, int port);

}  // namespace flopd

#endif  // FLOPD_COMMON_ADDRESS_H_
