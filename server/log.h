// flopd's log: one line per event on stderr, prefixed with the UTC time and
// "flopd:". Thread-safe (each line is written with one call).
#ifndef FLOPD_SERVER_LOG_H_
#define FLOPD_SERVER_LOG_H_

#include <string>

namespace flopd {

void LogLine(const std::string& line);

}  // namespace flopd

#endif  // FLOPD_SERVER_LOG_H_
