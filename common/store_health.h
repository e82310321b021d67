// The state of a flopd's result store as readers see it (flopd.v1
// StoreStatus in HostInfo): set by the store (server/store/) or, when flopd
// runs without one, by the daemon saying why. Plain data.
#ifndef FLOPD_COMMON_STORE_HEALTH_H_
#define FLOPD_COMMON_STORE_HEALTH_H_

#include <cstdint>
#include <string>

namespace flopd {

struct StoreHealth {
  // "ok" | "degraded" (writes fail; results are streamed but not stored) |
  // "unavailable" (not opened, or found damaged) | "off" (--no-store).
  std::string state;
  std::string detail;  // why, when not "ok"
  std::string path;    // the database file
  int64_t results = 0;
  int64_t jobs = 0;
  int64_t bytes = 0;               // database and write-ahead log
  int64_t results_not_stored = 0;  // since flopd started
  std::string retention;           // "30d,100000", "keep everything"
  int schema_version = 0;

  bool ok() const { return state == "ok"; }
};

}  // namespace flopd

#endif  // FLOPD_COMMON_STORE_HEALTH_H_
