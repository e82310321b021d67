// The result store: every job flopd accepts and every result it measures, in
// SQLite (DIR/flopd.db, write-ahead log, schema in schema.h), so that history
// survives restarts and kill -9 and any reader can ask for it.
//
// Durability: each result is its own transaction, committed before the
// result is streamed (the recorder calls RecordResult first), with
// synchronous=NORMAL in WAL mode: a committed result survives the process
// being killed; a power loss may lose the last transactions but never
// corrupts the file. Commits append to the write-ahead log and never wait
// for the disk; checkpoints (which do) run on the store's own thread, never
// on a device's. Results are stored as the exact (deterministically
// serialized) bytes of the flopd.v1.Result the client was sent, beside the
// indexed columns of common/history_query.h's ResultIndex.
//
// Failure: the store never stops a measurement. Open refuses a file it
// cannot trust (not a database, damaged, a newer schema, another flopd's)
// and leaves it untouched; a write that fails (disk full, I/O error) is
// counted, logged and reported in Health() ("degraded") and the next write
// tries again; a write that finds the file corrupt stops all writing
// ("unavailable"), so a damaged file is never written to again.
//
// Thread-safe: writes are serialized on one connection; reads run
// concurrently on a small pool of read-only connections and see every
// committed write.
#ifndef FLOPD_SERVER_STORE_RESULT_STORE_H_
#define FLOPD_SERVER_STORE_RESULT_STORE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/history_query.h"
#include "common/job_record.h"
#include "common/store_health.h"
#include "flopd/v1/flopd.pb.h"
#include "server/store/sqlite.h"

namespace flopd {

// What to keep: results measured within max_age and/or the newest
// max_results (0 = no limit of that kind); jobs go once they have ended and
// none of their results is left.
struct RetentionPolicy {
  int64_t max_age_ms = 0;
  int64_t max_results = 0;

  bool keeps_everything() const { return max_age_ms == 0 && max_results == 0; }
  // "30d,100000", "12h", "keep everything".
  std::string ToString() const;
};

// "30d" (units s, m, h, d, w), "100000" (results), or both separated by a
// comma; "" keeps everything. INVALID_ARGUMENT "--retain: ..." otherwise.
absl::StatusOr<RetentionPolicy> ParseRetention(absl::string_view text);

struct StoreOptions {
  std::string dir;  // the state directory; created (with parents) if missing
  RetentionPolicy retention;
  // How often retention is applied in the background (also once at open);
  // tests turn it off and call Prune() themselves.
  std::chrono::milliseconds maintenance_interval{std::chrono::minutes(10)};
  // How often the write-ahead log is checkpointed into the database file.
  std::chrono::milliseconds checkpoint_interval{std::chrono::seconds(1)};
  bool background_maintenance = true;
  // Tests only: caps the database at this many pages (writes beyond fail as
  // a full disk would). 0 = no cap.
  int64_t max_page_count = 0;
};

struct ResultPage {
  std::vector<v1::Result> results;
  std::vector<int64_t> ids;     // each result's row id (increasing in storage order)
  std::string next_page_token;  // empty: no more
};

struct JobPage {
  std::vector<JobRecord> jobs;
  std::string next_page_token;
};

// How long a connection waits for another's lock before SQLITE_BUSY.
inline constexpr int kStoreBusyTimeoutMs = 5000;

class ResultStore {
 public:
  // The database file's name in the state directory.
  static constexpr char kFileName[] = "flopd.db";

  // Creates the directory if missing, takes DIR/flopd.lock (one flopd per
  // state directory), opens or creates DIR/flopd.db, migrates its schema
  // (schema.h), marks jobs a previous process left queued or running as
  // interrupted, and starts applying retention in the background. Errors,
  // with any existing file left untouched: FAILED_PRECONDITION when another
  // flopd holds the directory or the schema is newer than this build's;
  // DATA_LOSS when the file is not a flopd database or is damaged;
  // PERMISSION_DENIED / UNAVAILABLE when the directory or file cannot be
  // created or written. Every message names the path and says what to do.
  static absl::StatusOr<std::unique_ptr<ResultStore>> Open(const StoreOptions& options);
  ~ResultStore();

  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  // Writes. Each is one transaction; on failure it is counted in Health().
  //
  // Inserts the job or updates its state, times, counts and status.
  absl::Status RecordJob(const JobRecord& job);
  // Stores `result` (of `job`, whose record already counts it) and updates
  // the job's row in the same transaction. Returns the result's row id.
  absl::StatusOr<int64_t> RecordResult(const v1::Result& result, const JobRecord& job);
  // Stores many results in one transaction (imports, benchmarks); no job
  // row is touched.
  absl::Status RecordResults(const std::vector<v1::Result>& results);

  // Reads. REQUIRES: the filter passed Normalize*Filter. INVALID_ARGUMENT
  // "page_token: ..." for a token of another query; "page_size: ..." as
  // EffectivePageSize says.
  absl::StatusOr<ResultPage> ListResults(const ResultFilter& filter, const PageRequest& page) const;
  absl::StatusOr<JobPage> ListJobs(const JobFilter& filter, const PageRequest& page) const;
  // NOT_FOUND "job_id: ..." when there is no such job.
  absl::StatusOr<JobRecord> GetJob(const std::string& job_id) const;
  // The newest result of each point (device, op, impl, params, dtype, n,
  // timing), at most `limit` points, the most recently measured first:
  // what fills /metrics when flopd starts.
  absl::StatusOr<std::vector<v1::Result>> LatestPerPoint(int limit) const;

  StoreHealth Health() const;
  // Called (from the writing thread) whenever writes start or stop failing:
  // true = writes succeed again. Set before the first write.
  void SetWritableListener(std::function<void(bool)> listener);

  // Applies the retention policy now. Deletes in small batches, so writers
  // wait at most one batch.
  absl::Status Prune();

 private:
  ResultStore(StoreOptions options, std::string path, int lock_fd);
  absl::Status OpenWriter();
  absl::Status MarkInterrupted();
  void MaintenanceLoop();
  // Refreshes the planner's statistics. REQUIRES: the writer is not in use
  // by another thread (open, or inside Write).
  absl::Status Analyze();
  // Runs `write` (a transaction) on the writer connection, counting and
  // reporting its outcome; `results` = how many results it stores.
  absl::Status Write(int results, const std::function<absl::Status(sqlite::Database&)>& write);
  absl::Status UpsertJob(sqlite::Database& db, const JobRecord& job);
  absl::Status InsertResult(sqlite::Database& db, const v1::Result& result, int64_t* id);
  // A read-only connection from the pool (opened when none is idle).
  absl::StatusOr<std::unique_ptr<sqlite::Database>> TakeReader() const;
  void ReturnReader(std::unique_ptr<sqlite::Database> reader) const;

  const StoreOptions options_;
  const std::string path_;
  const int lock_fd_;
  int schema_version_ = 0;

  mutable std::mutex write_mu_;  // the writer connection and its statements
  std::unique_ptr<sqlite::Database> writer_;
  std::unique_ptr<sqlite::Statement> insert_result_;
  std::unique_ptr<sqlite::Statement> insert_bytes_;
  std::unique_ptr<sqlite::Statement> upsert_job_;

  mutable std::mutex state_mu_;
  bool writes_failing_ = false;         // either of the two below
  bool result_writes_failing_ = false;  // the last write that stored results failed
  bool other_writes_failing_ = false;   // the last other write (a job's row, pruning) failed
  bool corrupt_ = false;                // a write found the file damaged: no more writes
  std::string last_error_;
  int64_t results_not_stored_ = 0;
  std::function<void(bool)> writable_listener_;

  std::atomic<int64_t> result_count_{0};
  int64_t analyzed_results_ = 0;  // result_count_ at the last Analyze (writer's)

  mutable std::mutex readers_mu_;
  mutable std::vector<std::unique_ptr<sqlite::Database>> idle_readers_;

  std::unique_ptr<sqlite::Database> checkpointer_;  // the maintenance thread's connection
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stopping_ = false;
  std::thread maintenance_;
};

// The default state directory: $STATE_DIRECTORY (systemd's StateDirectory=,
// its first entry), else $XDG_STATE_HOME/flopd, else $HOME/.local/state/flopd;
// "" when none of them is set.
std::string DefaultStateDir();

}  // namespace flopd

#endif  // FLOPD_SERVER_STORE_RESULT_STORE_H_
