#include "server/store/schema.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "flopd/v1/flopd.pb.h"
#include "proto/wire/wire.h"

namespace flopd {

const char kSchemaV1Sql[] = R"sql(
CREATE TABLE jobs(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  run_id TEXT NOT NULL,
  device TEXT NOT NULL,
  client TEXT NOT NULL,
  peer TEXT NOT NULL,
  request BLOB NOT NULL,
  state TEXT NOT NULL,
  points_total INTEGER NOT NULL,
  points_measured INTEGER NOT NULL,
  points_failed_verification INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  ended_unix_ms INTEGER NOT NULL,
  status_code INTEGER NOT NULL,
  status_message TEXT NOT NULL);
CREATE INDEX jobs_run ON jobs(run_id);
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_created ON jobs(created_unix_ms);
CREATE TABLE results(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  device TEXT NOT NULL,
  op TEXT NOT NULL,
  impl TEXT NOT NULL,
  params TEXT NOT NULL,
  dtype TEXT NOT NULL,
  n INTEGER NOT NULL,
  measured_unix_ms INTEGER NOT NULL,
  result BLOB NOT NULL);
CREATE INDEX results_job ON results(job_id);
CREATE INDEX results_run ON results(run_id);
CREATE INDEX results_device ON results(device);
CREATE INDEX results_op ON results(op, impl, dtype, n);
CREATE INDEX results_time ON results(measured_unix_ms);
)sql";

namespace {

absl::Status MigrateTo1(sqlite::Database& db) { return db.Exec(kSchemaV1Sql); }

// Moves each result's bytes into their own table, so that filters scan
// rows of ~100 bytes instead of ~1 KB; fills the new timing and verified
// columns from those bytes; swaps the (op, impl, dtype, n) index for one
// that keeps storage order within an op/impl/dtype (a page stops after its
// last match instead of sorting them all) and adds the point index.
absl::Status MigrateTo2(sqlite::Database& db) {
  for (const char* sql : {
           "CREATE TABLE result_bytes(id INTEGER PRIMARY KEY, result BLOB NOT NULL)",
           "INSERT INTO result_bytes(id, result) SELECT id, result FROM results",
           "ALTER TABLE results ADD COLUMN timing TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE results ADD COLUMN verified INTEGER NOT NULL DEFAULT 1",
       }) {
    if (absl::Status st = db.Exec(sql); !st.ok()) return st;
  }
  absl::StatusOr<std::unique_ptr<sqlite::Statement>> select =
      db.Prepare("SELECT id, result FROM result_bytes WHERE id > ? ORDER BY id LIMIT 1000");
  if (!select.ok()) return select.status();
  absl::StatusOr<std::unique_ptr<sqlite::Statement>> update =
      db.Prepare("UPDATE results SET timing = ?, verified = ? WHERE id = ?");
  if (!update.ok()) return update.status();
  int64_t last_id = 0;
  while (true) {
    std::vector<std::pair<int64_t, v1::Result>> batch;
    (*select)->Reset();
    (*select)->Bind(1, last_id);
    while (true) {
      absl::StatusOr<bool> row = (*select)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      v1::Result result;
      const absl::string_view bytes = (*select)->Blob(1);
      if (!result.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError(
            absl::StrCat("result row ", (*select)->Int(0), " does not hold a flopd.v1.Result"));
      }
      batch.emplace_back((*select)->Int(0), std::move(result));
    }
    if (batch.empty()) break;
    for (const auto& [id, result] : batch) {
      const ResultIndex index = IndexOf(result);
      (*update)->Reset();
      (*update)->Bind(1, index.timing).Bind(2, int64_t{index.verified ? 1 : 0}).Bind(3, id);
      if (absl::Status st = (*update)->Run(); !st.ok()) return st;
      last_id = id;
    }
  }
  for (const char* sql : {
           "DROP INDEX results_op",
           "ALTER TABLE results DROP COLUMN result",
           "CREATE INDEX results_kind ON results(op, impl, dtype)",
           "CREATE INDEX results_point ON results(device, op, impl, params, dtype, n, timing)",
           // Whoever deletes a result deletes its bytes.
           "CREATE TRIGGER results_bytes_go_too AFTER DELETE ON results BEGIN "
           "DELETE FROM result_bytes WHERE id = old.id; END",
       }) {
    if (absl::Status st = db.Exec(sql); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Who ran each job (authorization's identity); "" for older jobs.
absl::Status MigrateTo3(sqlite::Database& db) {
  return db.Exec("ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT ''");
}

using Migration = absl::Status (*)(sqlite::Database&);
// kMigrations[v - 1] brings version v - 1 to v.
constexpr Migration kMigrations[] = {MigrateTo1, MigrateTo2, MigrateTo3};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

}  // namespace

absl::Status MigrateSchema(sqlite::Database& db, int* from_version) {
  // The first read of the file: a file that is not a database fails here,
  // before anything is written.
  absl::StatusOr<int64_t> version = db.QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  absl::StatusOr<int64_t> tables = db.QueryInt("SELECT count(*) FROM sqlite_master");
  if (!tables.ok()) return tables.status();
  *from_version = static_cast<int>(*version);
  if (*version == 0 && *tables > 0) {
    return absl::DataLossError(
        "it is a SQLite database but not a flopd store (it has tables and no flopd schema "
        "version)");
  }
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("its schema version is ", *version,
                                                      ", newer than this flopd's (", kSchemaVersion,
                                                      "): it was written by a newer flopd"));
  }
  for (int64_t v = *version + 1; v <= kSchemaVersion; ++v) {
    sqlite::Transaction transaction(&db);
    if (absl::Status st = transaction.Begin(); !st.ok()) return st;
    if (absl::Status st = kMigrations[v - 1](db); !st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat("migration to schema version ", v, ": ", st.message()));
    }
    if (absl::Status st = db.Exec(absl::StrCat("PRAGMA user_version = ", v)); !st.ok()) return st;
    if (absl::Status st = transaction.Commit(); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace flopd
