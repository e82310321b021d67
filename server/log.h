// flopd's log: one line per event on stderr, prefixed with the UTC time and
// "flopd:". Thread-safe (each line is written with one call).
#ifndef FLOPD_SERVER_LOG_H_
#define FLOPD_SERVER_LOG_H_

#include <cstddef>
#include <string>

namespace flopd {

// The longest line written (before the time and "flopd: " prefix).
inline constexpr size_t kMaxLogLineBytes = 4096;

// Writes `line` as one line: control characters in it are escaped and it is
// cut at kMaxLogLineBytes (common/sanitize.h), so nothing in it can start
// another line. A client's string (a label, a run id, a peer, a path) should
// also be bounded where it is put into the line: Sanitized(text,
// kLogFieldBytes).
void LogLine(const std::string& line);

}  // namespace flopd

#endif  // FLOPD_SERVER_LOG_H_
