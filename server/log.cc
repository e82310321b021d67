#include "server/log.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sanitize.h"

namespace flopd {

void LogLine(const std::string& line) {
  const std::string text = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::Now(), absl::UTCTimeZone()) +
                           " flopd: " + Sanitized(line, kMaxLogLineBytes) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace flopd
