// Migrations: a database made by hand in the previous schema (version 1,
// written out literally below, as flopd wrote it) is opened by today's code:
// every row is kept and the new columns are filled from the stored bytes.
#include <sqlite3.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/store/result_store.h"
#include "server/store/schema.h"
#include "tests/server/store/store_test_util.h"

namespace flopd {
namespace {

using testing::Deterministic;
using testing::MakeResult;
using testing::TempStateDir;

// Version 1 as it was: the same text as schema.cc's kSchemaV1Sql, kept here
// on its own so that a change there cannot silently change the fixture.
constexpr char kVersion1[] = R"sql(
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
PRAGMA user_version = 1;
)sql";

constexpr char kJob[] = "j-01hv3k7q2m-aaaaaa";

class Version1Database {
 public:
  explicit Version1Database(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    Exec(kVersion1);
    Exec("PRAGMA journal_mode=WAL");
  }
  ~Version1Database() { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "") << " in " << sql;
    sqlite3_free(error);
  }

  void AddJob(const std::string& id, const std::string& state) {
    v1::RunRequest request;
    request.add_ops("outer");
    request.set_sizes("100");
    request.set_client("old flopctl");
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_,
                                 "INSERT INTO jobs(id, run_id, device, client, peer, request, "
                                 "state, points_total, points_measured, "
                                 "points_failed_verification, created_unix_ms, started_unix_ms, "
                                 "ended_unix_ms, status_code, status_message) "
                                 "VALUES(?, 'r-old', 'cpu:0', 'old flopctl', 'ipv4:10.0.0.1:5', "
                                 "?, ?, 3, 3, 1, 100, 110, 200, 0, '')",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    const std::string bytes = request.SerializeAsString();
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(stmt, 2, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, state.c_str(), -1, SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
  }

  void AddResult(const v1::Result& r, const std::string& params, const std::string& bytes) {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_,
                                 "INSERT INTO results(job_id, run_id, device, op, impl, params, "
                                 "dtype, n, measured_unix_ms, result) VALUES(?,?,?,?,?,?,?,?,?,?)",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    int i = 1;
    for (const std::string* text :
         {&r.job_id(), &r.run_id(), &r.device(), &r.op(), &r.impl(), &params, &r.dtype()}) {
      sqlite3_bind_text(stmt, i++, text->c_str(), -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int64(stmt, i++, r.n());
    sqlite3_bind_int64(stmt, i++, r.measured_unix_ms());
    sqlite3_bind_blob(stmt, i++, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
  }

  int64_t Int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::vector<v1::Result> OldResults() {
  std::vector<v1::Result> results;
  for (int i = 0; i < 2500; ++i) {  // more than one batch of the backfill
    v1::Result r = MakeResult(kJob, "outer", i % 2 ? "fused" : "library", i % 2, "f32", 100 + i,
                              1000 + i, 4, "r-old");
    r.set_timing(i % 3 == 0 ? "cold" : "hot");
    r.mutable_verification()->set_passed(i % 7 != 0);
    results.push_back(r);
  }
  return results;
}

TEST(SchemaMigration, Version1IsBroughtToTheCurrentVersionKeepingEveryRow) {
  // Version 1 goes through every migration (2: result bytes; 3: job owners).
  static_assert(kSchemaVersion == 3, "add a fixture of the previous version for the new one");
  TempStateDir dir;
  const std::vector<v1::Result> old = OldResults();
  {
    Version1Database v1db(dir.db());
    v1db.AddJob(kJob, "finished");
    v1db.AddJob("j-01hv3k7q2n-bbbbbb", "running");  // left running by the old flopd
    v1db.Exec("BEGIN");
    for (const v1::Result& r : old) {
      v1db.AddResult(r, absl::StrCat("axis=", r.params().at("axis")), Deterministic(r));
    }
    v1db.Exec("COMMIT");
    EXPECT_EQ(v1db.Int("PRAGMA user_version"), 1);
  }

  StoreOptions options;
  options.dir = dir.path();
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  const StoreHealth health = (*store)->Health();
  EXPECT_EQ(health.schema_version, kSchemaVersion);
  EXPECT_EQ(health.results, static_cast<int64_t>(old.size()));
  EXPECT_EQ(health.jobs, 2);

  // Every row, byte for byte, in its order.
  std::vector<v1::Result> got;
  PageRequest page{1000, "", false};
  while (true) {
    absl::StatusOr<ResultPage> p = (*store)->ListResults(ResultFilter(), page);
    ASSERT_TRUE(p.ok()) << p.status();
    got.insert(got.end(), p->results.begin(), p->results.end());
    if (p->next_page_token.empty()) break;
    page.page_token = p->next_page_token;
  }
  ASSERT_EQ(got.size(), old.size());
  for (size_t i = 0; i < old.size(); ++i) {
    ASSERT_EQ(Deterministic(got[i]), Deterministic(old[i])) << i;
  }
  // The old jobs, readable; the one left running is now interrupted.
  absl::StatusOr<JobRecord> job = (*store)->GetJob(kJob);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, JobState::kFinished);
  EXPECT_EQ(job->owner, "");  // not recorded before version 3
  EXPECT_EQ(job->submission.client, "old flopctl");
  EXPECT_EQ(job->points_failed_verification, 1);
  EXPECT_EQ((*store)->GetJob("j-01hv3k7q2n-bbbbbb")->state, JobState::kInterrupted);
  // Old filters still work on the migrated rows.
  ResultFilter fused;
  fused.impls = {"fused"};
  fused.params = {"axis=1"};
  absl::StatusOr<ResultPage> fused_page = (*store)->ListResults(fused, {1000, "", false});
  ASSERT_TRUE(fused_page.ok());
  EXPECT_EQ(fused_page->results.size(), 1000u);
}

TEST(SchemaMigration, TheBackfillReadsEachRowsBytes) {
  TempStateDir dir;
  const std::vector<v1::Result> old = OldResults();
  {
    Version1Database v1db(dir.db());
    for (size_t i = 0; i < 30; ++i) {
      v1db.AddResult(old[i], absl::StrCat("axis=", old[i].params().at("axis")),
                     Deterministic(old[i]));
    }
  }
  StoreOptions options;
  options.dir = dir.path();
  ASSERT_TRUE(ResultStore::Open(options).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT timing, verified FROM results ORDER BY id", -1, &stmt,
                               nullptr),
            SQLITE_OK);
  for (size_t i = 0; i < 30; ++i) {
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))),
              old[i].timing());
    EXPECT_EQ(sqlite3_column_int(stmt, 1), old[i].verification().passed() ? 1 : 0) << i;
  }
  sqlite3_finalize(stmt);
  auto count = [&](const char* sql) {
    sqlite3_stmt* query = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &query, nullptr), SQLITE_OK) << sql;
    int value = -1;
    if (sqlite3_step(query) == SQLITE_ROW) value = sqlite3_column_int(query, 0);
    sqlite3_finalize(query);
    return value;
  };
  // The bytes moved to their own table, row for row; the wide column went.
  EXPECT_EQ(count("SELECT count(*) FROM result_bytes"), 30);
  EXPECT_EQ(count("SELECT count(*) FROM pragma_table_info('results') WHERE name = 'result'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM results r JOIN result_bytes b ON b.id = r.id"), 30);
  for (const char* index : {"results_point", "results_kind", "results_job", "results_time"}) {
    EXPECT_EQ(count(absl::StrCat("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                 "name = '",
                                 index, "'")
                        .c_str()),
              1)
        << index;
  }
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name = 'results_op'"), 0);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(SchemaMigration, AFailedMigrationLeavesTheFileAtItsVersionWithEveryRow) {
  TempStateDir dir;
  const std::vector<v1::Result> old = OldResults();
  {
    Version1Database v1db(dir.db());
    for (size_t i = 0; i < 10; ++i) {
      v1db.AddResult(old[i], "axis=0", Deterministic(old[i]));
    }
    v1db.AddResult(old[10], "axis=0", "\xff\xff\xff not a result");
  }
  StoreOptions options;
  options.dir = dir.path();
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(store.status().message(), "migration to schema version 2"))
      << store.status();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM results), "
                               "(SELECT user_version FROM pragma_user_version)",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 11);
  EXPECT_EQ(sqlite3_column_int(stmt, 1), 1) << "the step was rolled back";
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace flopd
