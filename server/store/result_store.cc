#include "server/store/result_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "proto/wire/wire.h"
#include "server/log.h"
#include "server/store/schema.h"

namespace flopd {
namespace {

constexpr int kPruneBatch = 1000;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Serialize(const v1::Result& result) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    result.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// mkdir -p.
absl::Status MakeDirs(const std::string& dir) {
  std::string path;
  for (absl::string_view part : absl::StrSplit(dir, '/')) {
    absl::StrAppend(&path, part, "/");
    if (part.empty() || part == ".") continue;
    if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create the state directory ", dir, ": ", std::strerror(errno)));
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the state directory ", dir, " is not a directory"));
  }
  return absl::OkStatus();
}

int64_t FileBytes(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

// What the user should do about an Open error, appended to its message.
absl::Status Explain(const absl::Status& status, const std::string& path) {
  std::string advice;
  switch (status.code()) {
    case absl::StatusCode::kDataLoss:
      advice =
          " It was left as it is: move it away (or point --state-dir elsewhere) and "
          "restart flopd to start a new store.";
      break;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnavailable:
      advice = " Make the state directory writable or choose another with --state-dir.";
      break;
    default:
      break;
  }
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message(), advice));
}

}  // namespace

std::string RetentionPolicy::ToString() const {
  if (keeps_everything()) return "keep everything";
  std::vector<std::string> parts;
  if (max_age_ms > 0) {
    const int64_t s = max_age_ms / 1000;
    if (s % 604800 == 0)
      parts.push_back(absl::StrCat(s / 604800, "w"));
    else if (s % 86400 == 0)
      parts.push_back(absl::StrCat(s / 86400, "d"));
    else if (s % 3600 == 0)
      parts.push_back(absl::StrCat(s / 3600, "h"));
    else if (s % 60 == 0)
      parts.push_back(absl::StrCat(s / 60, "m"));
    else
      parts.push_back(absl::StrCat(s, "s"));
  }
  if (max_results > 0) parts.push_back(absl::StrCat(max_results));
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<RetentionPolicy> ParseRetention(absl::string_view text) {
  RetentionPolicy policy;
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat("--retain: '", text,
                   "' is not allowed; expected an age (30d; units s, m, h, d, w), a "
                   "number of results (100000), or both: 30d,100000"));
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    int64_t value = 0;
    if (absl::SimpleAtoi(part, &value)) {
      if (value < 1 || policy.max_results > 0) return bad;
      policy.max_results = value;
      continue;
    }
    if (part.size() < 2 || policy.max_age_ms > 0) return bad;
    int64_t unit_s = 0;
    switch (part.back()) {
      case 's':
        unit_s = 1;
        break;
      case 'm':
        unit_s = 60;
        break;
      case 'h':
        unit_s = 3600;
        break;
      case 'd':
        unit_s = 86400;
        break;
      case 'w':
        unit_s = 604800;
        break;
      default:
        return bad;
    }
    if (!absl::SimpleAtoi(part.substr(0, part.size() - 1), &value) || value < 1 ||
        value > int64_t{100} * 365 * 86400 / unit_s) {
      return bad;
    }
    policy.max_age_ms = value * unit_s * 1000;
  }
  return policy;
}

std::string DefaultStateDir() {
  if (const char* systemd = std::getenv("STATE_DIRECTORY"); systemd && *systemd) {
    const std::vector<std::string> dirs = absl::StrSplit(systemd, ':');
    return dirs.front();
  }
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
    return absl::StrCat(xdg, "/flopd");
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return absl::StrCat(home, "/.local/state/flopd");
  }
  return "";
}

ResultStore::ResultStore(StoreOptions options, std::string path, int lock_fd)
    : options_(std::move(options)), path_(std::move(path)), lock_fd_(lock_fd) {}

absl::StatusOr<std::unique_ptr<ResultStore>> ResultStore::Open(const StoreOptions& options) {
  if (options.dir.empty()) {
    return absl::FailedPreconditionError(
        "no state directory: none of STATE_DIRECTORY, XDG_STATE_HOME and HOME is set; pass "
        "--state-dir");
  }
  if (absl::Status st = MakeDirs(options.dir); !st.ok()) return st;
  const std::string lock_path = absl::StrCat(options.dir, "/flopd.lock");
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", lock_path, ": ", std::strerror(errno),
                     ". Make the state directory writable or choose another with --state-dir."));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    (void)!pread(lock_fd, pid, sizeof(pid) - 1, 0);
    close(lock_fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "the state directory ", options.dir, " is in use by another flopd (pid ",
        absl::StripTrailingAsciiWhitespace(pid), "); give each flopd its own --state-dir"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(lock_fd, 0) == 0) (void)!pwrite(lock_fd, pid.data(), pid.size(), 0);

  const std::string path = absl::StrCat(options.dir, "/", kFileName);
  std::unique_ptr<ResultStore> store(new ResultStore(options, path, lock_fd));
  if (absl::Status st = store->OpenWriter(); !st.ok()) return Explain(st, path);
  if (absl::Status st = store->MarkInterrupted(); !st.ok()) return Explain(st, path);
  absl::StatusOr<int64_t> count = store->writer_->QueryInt("SELECT count(*) FROM results");
  if (!count.ok()) return Explain(count.status(), path);
  store->result_count_ = *count;
  if (options.background_maintenance) {
    absl::StatusOr<std::unique_ptr<sqlite::Database>> checkpointer =
        sqlite::Database::Open(path, SQLITE_OPEN_READWRITE, kStoreBusyTimeoutMs);
    if (!checkpointer.ok()) return Explain(checkpointer.status(), path);
    store->checkpointer_ = *std::move(checkpointer);
    store->maintenance_ = std::thread([raw = store.get()] { raw->MaintenanceLoop(); });
  }
  return store;
}

absl::Status ResultStore::OpenWriter() {
  absl::StatusOr<std::unique_ptr<sqlite::Database>> db =
      sqlite::Database::Open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, kStoreBusyTimeoutMs);
  if (!db.ok()) return db.status();
  writer_ = *std::move(db);
  // Reads the header before anything is written: a file that is not a
  // database (or not ours, or newer) is refused here, untouched.
  int from_version = 0;
  absl::StatusOr<int64_t> version = writer_->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  absl::StatusOr<int64_t> tables = writer_->QueryInt("SELECT count(*) FROM sqlite_master");
  if (!tables.ok()) return tables.status();
  if ((*version == 0 && *tables > 0) || *version > kSchemaVersion) {
    return MigrateSchema(*writer_, &from_version);  // refuses it, naming why
  }
  if (absl::Status st = writer_->Exec("PRAGMA journal_mode=WAL"); !st.ok()) return st;
  if (absl::Status st = writer_->Exec("PRAGMA synchronous=NORMAL"); !st.ok()) return st;
  if (options_.background_maintenance) {
    // Checkpoints (and their fsyncs) on the maintenance thread, not in a
    // device's commit.
    if (absl::Status st = writer_->Exec("PRAGMA wal_autocheckpoint=0"); !st.ok()) return st;
  }
  if (absl::Status st = MigrateSchema(*writer_, &from_version); !st.ok()) return st;
  // Planner statistics when there are none yet (then the maintenance thread
  // refreshes them as the store grows). Best effort: without them queries
  // are slower, never wrong.
  absl::StatusOr<int64_t> has_stats =
      writer_->QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'");
  if (!has_stats.ok()) return has_stats.status();
  if (*has_stats == 0) {
    if (absl::Status st = Analyze(); !st.ok()) {
      LogLine(absl::StrCat("store: cannot refresh the planner's statistics: ", st.message()));
    }
  } else {
    absl::StatusOr<int64_t> analyzed = writer_->QueryInt(
        "SELECT coalesce(max(CAST(stat AS INTEGER)), 0) FROM sqlite_stat1 WHERE tbl = 'results'");
    if (analyzed.ok()) analyzed_results_ = *analyzed;
  }
  if (options_.max_page_count > 0) {  // (never below the pages in use)
    if (absl::Status st =
            writer_->Exec(absl::StrCat("PRAGMA max_page_count=", options_.max_page_count));
        !st.ok()) {
      return st;
    }
  }
  if (from_version != 0 && from_version < kSchemaVersion) {
    LogLine(absl::StrCat("store: migrated ", path_, " from schema version ", from_version, " to ",
                         kSchemaVersion));
  }
  schema_version_ = kSchemaVersion;

  absl::StatusOr<std::unique_ptr<sqlite::Statement>> insert = writer_->Prepare(
      "INSERT INTO results(job_id, run_id, device, op, impl, params, dtype, n, measured_unix_ms, "
      "timing, verified) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  if (!insert.ok()) return insert.status();
  insert_result_ = *std::move(insert);
  absl::StatusOr<std::unique_ptr<sqlite::Statement>> insert_bytes =
      writer_->Prepare("INSERT INTO result_bytes(id, result) VALUES(?,?)");
  if (!insert_bytes.ok()) return insert_bytes.status();
  insert_bytes_ = *std::move(insert_bytes);
  absl::StatusOr<std::unique_ptr<sqlite::Statement>> upsert = writer_->Prepare(
      "INSERT INTO jobs(id, run_id, device, client, peer, request, state, points_total, "
      "points_measured, points_failed_verification, created_unix_ms, started_unix_ms, "
      "ended_unix_ms, status_code, status_message, owner) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
      "ON CONFLICT(id) DO UPDATE SET state=excluded.state, points_total=excluded.points_total, "
      "points_measured=excluded.points_measured, "
      "points_failed_verification=excluded.points_failed_verification, "
      "started_unix_ms=excluded.started_unix_ms, ended_unix_ms=excluded.ended_unix_ms, "
      "status_code=excluded.status_code, status_message=excluded.status_message");
  if (!upsert.ok()) return upsert.status();
  upsert_job_ = *std::move(upsert);
  return absl::OkStatus();
}

absl::Status ResultStore::MarkInterrupted() {
  // A previous flopd (we hold the lock, so it is gone) left these jobs
  // unfinished: killed, crashed or the machine stopped. Each ends at its
  // last sign of life.
  absl::StatusOr<int64_t> left =
      writer_->QueryInt("SELECT count(*) FROM jobs WHERE state IN ('queued','running')");
  if (!left.ok()) return left.status();
  if (*left == 0) return absl::OkStatus();
  const absl::Status status =
      absl::UnavailableError("flopd stopped before the job ended (found when it started again)");
  absl::StatusOr<std::unique_ptr<sqlite::Statement>> update = writer_->Prepare(absl::StrCat(
      "UPDATE jobs SET state='interrupted', status_code=", static_cast<int>(status.code()),
      ", status_message=?, ended_unix_ms=max(created_unix_ms, started_unix_ms, "
      "coalesce((SELECT max(measured_unix_ms) FROM results WHERE results.job_id = jobs.id), 0)) "
      "WHERE state IN ('queued','running')"));
  if (!update.ok()) return update.status();
  (*update)->Bind(1, status.message());
  if (absl::Status st = (*update)->Run(); !st.ok()) return st;
  LogLine(absl::StrCat("store: marked ", *left,
                       " job(s) a previous flopd left queued or running as interrupted"));
  return absl::OkStatus();
}

ResultStore::~ResultStore() {
  {
    std::lock_guard<std::mutex> lock(maintenance_mu_);
    stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  checkpointer_.reset();
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    insert_result_.reset();
    insert_bytes_.reset();
    upsert_job_.reset();
    writer_.reset();
  }
  idle_readers_.clear();
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

void ResultStore::SetWritableListener(std::function<void(bool)> listener) {
  std::lock_guard<std::mutex> lock(state_mu_);
  writable_listener_ = std::move(listener);
}

absl::Status ResultStore::Write(int results,
                                const std::function<absl::Status(sqlite::Database&)>& write) {
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    bool corrupt;
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      corrupt = corrupt_;
    }
    if (corrupt || writer_ == nullptr) {
      status = absl::FailedPreconditionError("the store is no longer written (damaged file)");
    } else {
      status = write(*writer_);
    }
  }
  std::function<void(bool)> notify;
  bool now_writable;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    const bool was_failing = writes_failing_;
    // Small writes (a job's row) may succeed while results do not fit: the
    // store is degraded while the last write of either kind failed.
    (results > 0 ? result_writes_failing_ : other_writes_failing_) = !status.ok();
    if (status.ok()) {
      writes_failing_ = result_writes_failing_ || other_writes_failing_;
      if (was_failing && !writes_failing_) {
        LogLine(absl::StrCat("store: writes succeed again; ", results_not_stored_,
                             " result(s) measured meanwhile were not stored"));
      }
    } else {
      results_not_stored_ += results;
      last_error_ = std::string(status.message());
      writes_failing_ = true;
      if (absl::IsDataLoss(status) && !corrupt_) {
        corrupt_ = true;
        LogLine(absl::StrCat("store: ", path_, " is damaged (", status.message(),
                             "); it is no longer written. Results are still measured and "
                             "streamed. Move it away and restart flopd for a new store."));
      } else if (!was_failing) {
        LogLine(absl::StrCat("store: a write failed: ", status.message(),
                             "; results are still measured and streamed but not stored until "
                             "writes succeed again"));
      }
    }
    now_writable = !writes_failing_;
    if (was_failing != writes_failing_) notify = writable_listener_;
  }
  if (notify) notify(now_writable);
  return status;
}

absl::Status ResultStore::UpsertJob(sqlite::Database&, const JobRecord& job) {
  sqlite::Statement& s = *upsert_job_;
  s.Reset();
  const std::string request = ToProto(job.submission).SerializeAsString();
  s.Bind(1, job.id)
      .Bind(2, job.submission.run_id)
      .Bind(3, job.device)
      .Bind(4, job.submission.client)
      .Bind(5, job.peer)
      .BindBlob(6, request)
      .Bind(7, JobStateName(job.state))
      .Bind(8, int64_t{job.points_total})
      .Bind(9, int64_t{job.points_measured})
      .Bind(10, int64_t{job.points_failed_verification})
      .Bind(11, job.created_unix_ms)
      .Bind(12, job.started_unix_ms)
      .Bind(13, job.ended_unix_ms)
      .Bind(14, int64_t{static_cast<int>(job.status.code())})
      .Bind(15, job.status.message())
      .Bind(16, job.owner);
  return s.Run();
}

absl::Status ResultStore::InsertResult(sqlite::Database& db, const v1::Result& result,
                                       int64_t* id) {
  const ResultIndex index = IndexOf(result);
  sqlite::Statement& s = *insert_result_;
  s.Reset();
  s.Bind(1, index.job_id)
      .Bind(2, index.run_id)
      .Bind(3, index.device)
      .Bind(4, index.op)
      .Bind(5, index.impl)
      .Bind(6, index.params)
      .Bind(7, index.dtype)
      .Bind(8, index.n)
      .Bind(9, index.measured_unix_ms)
      .Bind(10, index.timing)
      .Bind(11, int64_t{index.verified ? 1 : 0});
  if (absl::Status st = s.Run(); !st.ok()) return st;
  *id = sqlite3_last_insert_rowid(db.raw());
  sqlite::Statement& bytes = *insert_bytes_;
  bytes.Reset();
  bytes.Bind(1, *id).BindBlob(2, Serialize(result));
  return bytes.Run();
}

absl::Status ResultStore::RecordJob(const JobRecord& job) {
  return Write(0, [&](sqlite::Database& db) -> absl::Status {
    // One statement: its own implicit transaction.
    return UpsertJob(db, job);
  });
}

absl::StatusOr<int64_t> ResultStore::RecordResult(const v1::Result& result, const JobRecord& job) {
  int64_t id = 0;
  absl::Status status = Write(1, [&](sqlite::Database& db) -> absl::Status {
    sqlite::Transaction transaction(&db);
    if (absl::Status st = transaction.Begin(); !st.ok()) return st;
    if (absl::Status st = InsertResult(db, result, &id); !st.ok()) return st;
    if (absl::Status st = UpsertJob(db, job); !st.ok()) return st;
    return transaction.Commit();
  });
  if (!status.ok()) return status;
  result_count_.fetch_add(1);
  return id;
}

absl::Status ResultStore::RecordResults(const std::vector<v1::Result>& results) {
  absl::Status status =
      Write(static_cast<int>(results.size()), [&](sqlite::Database& db) -> absl::Status {
        sqlite::Transaction transaction(&db);
        if (absl::Status st = transaction.Begin(); !st.ok()) return st;
        for (const v1::Result& result : results) {
          int64_t id = 0;
          if (absl::Status st = InsertResult(db, result, &id); !st.ok()) return st;
        }
        return transaction.Commit();
      });
  if (status.ok()) result_count_.fetch_add(static_cast<int64_t>(results.size()));
  return status;
}

StoreHealth ResultStore::Health() const {
  StoreHealth health;
  health.path = path_;
  health.schema_version = schema_version_;
  health.retention = options_.retention.ToString();
  health.results = result_count_.load();
  health.bytes = FileBytes(path_) + FileBytes(path_ + "-wal");
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    health.results_not_stored = results_not_stored_;
    if (corrupt_) {
      health.state = "unavailable";
      health.detail = absl::StrCat("the database is damaged and no longer written: ", last_error_,
                                   "; move it away and restart flopd");
    } else if (writes_failing_) {
      health.state = "degraded";
      health.detail = absl::StrCat("writes fail: ", last_error_, "; ", results_not_stored_,
                                   " result(s) not stored so far");
    } else {
      health.state = "ok";
    }
  }
  absl::StatusOr<std::unique_ptr<sqlite::Database>> reader = TakeReader();
  if (reader.ok()) {
    absl::StatusOr<int64_t> jobs = (*reader)->QueryInt("SELECT count(*) FROM jobs");
    if (jobs.ok()) health.jobs = *jobs;
    ReturnReader(*std::move(reader));
  }
  return health;
}

absl::Status ResultStore::Prune() {
  const RetentionPolicy& policy = options_.retention;
  if (policy.keeps_everything()) return absl::OkStatus();
  const int64_t now = NowMillis();
  // Results older than the age limit, then beyond the count limit: the
  // oldest first, a batch per transaction.
  int64_t pruned = 0;
  auto delete_batches = [&](const std::string& select_ids, int64_t bound) -> absl::Status {
    while (true) {
      int64_t deleted = 0;
      absl::Status st = Write(0, [&](sqlite::Database& db) -> absl::Status {
        absl::StatusOr<std::unique_ptr<sqlite::Statement>> stmt = db.Prepare(absl::StrCat(
            "DELETE FROM results WHERE id IN (", select_ids, " LIMIT ", kPruneBatch, ")"));
        if (!stmt.ok()) return stmt.status();
        (*stmt)->Bind(1, bound);
        if (absl::Status run = (*stmt)->Run(); !run.ok()) return run;
        deleted = db.changes();
        return absl::OkStatus();
      });
      if (!st.ok()) return st;
      pruned += deleted;
      result_count_.fetch_sub(deleted);
      if (deleted < kPruneBatch) return absl::OkStatus();
    }
  };
  if (policy.max_age_ms > 0) {
    if (absl::Status st =
            delete_batches("SELECT id FROM results WHERE measured_unix_ms < ? ORDER BY id",
                           now - policy.max_age_ms);
        !st.ok()) {
      return st;
    }
  }
  if (policy.max_results > 0) {
    absl::StatusOr<std::unique_ptr<sqlite::Database>> reader = TakeReader();
    if (!reader.ok()) return reader.status();
    absl::StatusOr<int64_t> keep_from = (*reader)->QueryInt(absl::StrCat(
        "SELECT id FROM results ORDER BY id DESC LIMIT 1 OFFSET ", policy.max_results - 1));
    ReturnReader(*std::move(reader));
    if (!keep_from.ok()) return keep_from.status();
    if (*keep_from > 0) {
      if (absl::Status st =
              delete_batches("SELECT id FROM results WHERE id < ? ORDER BY id", *keep_from);
          !st.ok()) {
        return st;
      }
    }
  }
  // Jobs that have ended, have no result left and are older than what is
  // kept.
  int64_t jobs_pruned = 0;
  absl::Status st = Write(0, [&](sqlite::Database& db) -> absl::Status {
    absl::StatusOr<int64_t> oldest = db.QueryInt(
        "SELECT coalesce(min(measured_unix_ms), 0) "
        "FROM results");
    if (!oldest.ok()) return oldest.status();
    int64_t cutoff = policy.max_age_ms > 0 ? now - policy.max_age_ms : 0;
    if (policy.max_results > 0 && *oldest > 0) cutoff = std::max(cutoff, *oldest);
    if (cutoff == 0) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<sqlite::Statement>> stmt = db.Prepare(
        "DELETE FROM jobs WHERE state NOT IN ('queued','running') AND ended_unix_ms < ? AND "
        "NOT EXISTS (SELECT 1 FROM results WHERE results.job_id = jobs.id)");
    if (!stmt.ok()) return stmt.status();
    (*stmt)->Bind(1, cutoff);
    if (absl::Status run = (*stmt)->Run(); !run.ok()) return run;
    jobs_pruned = db.changes();
    return absl::OkStatus();
  });
  if (pruned > 0 || jobs_pruned > 0) {
    LogLine(absl::StrCat("store: retention (", policy.ToString(), ") removed ", pruned,
                         " result(s) and ", jobs_pruned, " job(s)"));
  }
  return st;
}

absl::Status ResultStore::Analyze() {
  // Sampled statistics (a few hundred rows per index): enough for the
  // planner to tell a selective index from a broad one, in milliseconds.
  absl::Status status = writer_->Exec("PRAGMA analysis_limit=400; ANALYZE;");
  if (status.ok()) analyzed_results_ = result_count_.load();
  return status;
}

void ResultStore::MaintenanceLoop() {
  auto next_prune = std::chrono::steady_clock::now();
  while (true) {
    if (std::chrono::steady_clock::now() >= next_prune) {
      if (absl::Status st = Prune(); !st.ok()) {
        LogLine(absl::StrCat("store: retention failed: ", st.message()));
      }
      // Fresh planner statistics once the store has grown or shrunk a lot.
      const int64_t now = result_count_.load();
      if (now > 2 * analyzed_results_ + 1000 || now < analyzed_results_ / 2) {
        Write(0, [&](sqlite::Database&) { return Analyze(); }).IgnoreError();
      }
      next_prune = std::chrono::steady_clock::now() + options_.maintenance_interval;
    }
    // PASSIVE: copies what no reader still needs into the file and syncs
    // it, without waiting for (or blocking) readers and the writer.
    checkpointer_->Exec("PRAGMA wal_checkpoint(PASSIVE)").IgnoreError();
    std::unique_lock<std::mutex> lock(maintenance_mu_);
    if (maintenance_cv_.wait_for(lock, options_.checkpoint_interval, [&] { return stopping_; })) {
      return;
    }
  }
}

}  // namespace flopd
