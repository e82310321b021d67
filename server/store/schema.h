// The store's database layout and its migrations. The version lives in
// SQLite's user_version; every version this build knows has a migration from
// the one before, and a new file is brought up through all of them, so the
// path an old file takes is the path every new file takes too.
//
//   1  jobs (one row per accepted job: its request, client, peer, device,
//      times, counts, state and final status) and results (the exact bytes
//      of each flopd.v1.Result as streamed, plus indexed columns for the
//      filters: job, run, device, op, impl, params, dtype, N, measured time).
//   2  the bytes move to their own table (result_bytes, by the same id), so
//      filters scan small rows; results gain `timing` and `verified`
//      (filled from each row's bytes); the (op, impl, dtype, n) index becomes
//      (op, impl, dtype), which keeps storage order so a page stops at its
//      last match; an index on a point's full identity (device, op, impl,
//      params, dtype, n, timing) serves "a point's history" and "the latest
//      of each point". Measured on a million results: docs/results/store.md.
//
// Not thread-safe: called on one connection while opening the store.
#ifndef FLOPD_SERVER_STORE_SCHEMA_H_
#define FLOPD_SERVER_STORE_SCHEMA_H_

#include "absl/status/status.h"
#include "server/store/sqlite.h"

namespace flopd {

inline constexpr int kSchemaVersion = 3;

// The SQL that made a version-1 database (kept for the migration test).
extern const char kSchemaV1Sql[];

// Brings `db` to kSchemaVersion, each step in its own transaction, and sets
// *from_version to the version found (0: a new, empty file). Errors, with
// the file left as it was: DATA_LOSS when it is not a SQLite database or not
// a flopd store (tables but no flopd version); FAILED_PRECONDITION when its
// version is newer than this build's; a migration's error otherwise (its
// step rolled back).
absl::Status MigrateSchema(sqlite::Database& db, int* from_version);

}  // namespace flopd

#endif  // FLOPD_SERVER_STORE_SCHEMA_H_
