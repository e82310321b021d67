// Text that came from a client, made safe to print: in flopd's log (one
// line per event) and in the error messages that quote a client's value
// (which travel back in a gRPC status, itself bounded by the metadata
// limit). Control characters cannot break a line and a huge value cannot
// make a huge line or message.
//
// Thread-safe: pure functions.
#ifndef FLOPD_COMMON_SANITIZE_H_
#define FLOPD_COMMON_SANITIZE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace flopd {

// Bounds for the two uses: a client string in a log line, and a client
// value quoted in an error message.
inline constexpr size_t kLogFieldBytes = 200;
inline constexpr size_t kQuotedValueBytes = 64;

// `text` escaped and bounded. Control characters (C0, DEL and the C1 range
// U+0080..U+009F) become \n, \r, \t or \xNN (\xc2\x85 for U+0085), and so
// does every byte that is not part of valid UTF-8; other characters,
// backslash included, are kept as they are (so escaping twice changes
// nothing). At most `max_bytes` bytes of escaped text are kept, cut between
// characters, followed by "…(N more bytes)" when N bytes of `text` were
// left out.
std::string Sanitized(absl::string_view text, size_t max_bytes);

}  // namespace flopd

#endif  // FLOPD_COMMON_SANITIZE_H_
