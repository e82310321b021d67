// The read side of ResultStore (result_store.h): paged, filtered queries
// over the results and jobs tables on a pool of read-only connections,
// beside the writer of result_store.cc (WAL lets them read while it writes).
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
#include "common/sanitize.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "proto/wire/wire.h"
#include "server/log.h"
#include "server/store/schema.h"

namespace flopd {
namespace {

// A page stops growing once its results reach this many bytes (gRPC's
// default message limit is 4 MiB).
constexpr size_t kMaxPageBytes = 3 << 20;
constexpr int kMaxIdleReaders = 4;

// FNV-1a: a stable 64-bit digest of a query, so a token only works for the
// query that made it.
uint64_t Digest(absl::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string MakeToken(int64_t position, const std::string& query) {
  return absl::WebSafeBase64Escape(absl::StrFormat("%d.%016x", position, Digest(query)));
}

absl::StatusOr<int64_t> ParseToken(const std::string& token, const std::string& query) {
  if (token.empty()) return 0;
  const absl::Status bad = absl::InvalidArgumentError(
      "page_token: not a token of this query (it came from another filter or order, or it is "
      "damaged); start again without a page_token");
  std::string text;
  if (!absl::WebSafeBase64Unescape(token, &text)) return bad;
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  int64_t position = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &position) || position <= 0 ||
      parts[1] != absl::StrFormat("%016x", Digest(query))) {
    return bad;
  }
  return position;
}

// A WHERE clause and the values it binds, in order.
class Where {
 public:
  void In(const std::string& column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::vector<std::string> marks(values.size(), "?");
    terms_.push_back(absl::StrCat(column, " IN (", absl::StrJoin(marks, ","), ")"));
    for (const std::string& v : values) {
      texts_.push_back({static_cast<int>(binds_.size()), v});
      binds_.push_back(kText);
    }
  }
  void Compare(const std::string& column, const char* op, int64_t value) {
    terms_.push_back(absl::StrCat(column, " ", op, " ?"));
    ints_.push_back({static_cast<int>(binds_.size()), value});
    binds_.push_back(kInt);
  }
  std::string Sql() const {
    return terms_.empty() ? "" : absl::StrCat(" WHERE ", absl::StrJoin(terms_, " AND "));
  }
  void BindTo(sqlite::Statement& stmt) const {
    for (const auto& [i, v] : texts_) stmt.Bind(i + 1, v);
    for (const auto& [i, v] : ints_) stmt.Bind(i + 1, v);
  }

 private:
  enum Kind { kText, kInt };
  std::vector<std::string> terms_;
  std::vector<Kind> binds_;
  std::vector<std::pair<int, std::string>> texts_;
  std::vector<std::pair<int, int64_t>> ints_;
};

constexpr char kJobColumns[] =
    "id, run_id, device, client, peer, request, state, points_total, points_measured, "
    "points_failed_verification, created_unix_ms, started_unix_ms, ended_unix_ms, status_code, "
    "status_message, seq, owner";

absl::StatusOr<JobRecord> JobFromRow(const sqlite::Statement& row) {
  JobRecord job;
  job.id = row.Text(0);
  v1::RunRequest request;
  const absl::string_view bytes = row.Blob(5);
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("job ", job.id, ": its request is damaged"));
  }
  job.submission = FromProto(request);
  job.submission.run_id = row.Text(1);
  job.submission.client = row.Text(3);
  job.device = row.Text(2);
  job.peer = row.Text(4);
  job.owner = row.Text(16);
  absl::StatusOr<JobState> state = ParseJobState(row.Text(6));
  job.state = state.ok() ? *state : JobState::kFailed;
  job.points_total = static_cast<int>(row.Int(7));
  job.points_measured = static_cast<int>(row.Int(8));
  job.points_failed_verification = static_cast<int>(row.Int(9));
  job.created_unix_ms = row.Int(10);
  job.started_unix_ms = row.Int(11);
  job.ended_unix_ms = row.Int(12);
  job.status = absl::Status(static_cast<absl::StatusCode>(row.Int(13)), row.Text(14));
  return job;
}

}  // namespace

absl::StatusOr<std::unique_ptr<sqlite::Database>> ResultStore::TakeReader() const {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<sqlite::Database> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
  }
  return sqlite::Database::Open(path_, SQLITE_OPEN_READONLY, kStoreBusyTimeoutMs);
}

void ResultStore::ReturnReader(std::unique_ptr<sqlite::Database> reader) const {
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (static_cast<int>(idle_readers_.size()) < kMaxIdleReaders) {
    idle_readers_.push_back(std::move(reader));
  }
}

absl::StatusOr<ResultPage> ResultStore::ListResults(const ResultFilter& filter,
                                                    const PageRequest& page) const {
  absl::StatusOr<int> size = EffectivePageSize(page.page_size);
  if (!size.ok()) return size.status();
  const std::string query = absl::StrCat(filter.Canonical(), page.newest_first ? ";desc" : "");
  absl::StatusOr<int64_t> after = ParseToken(page.page_token, query);
  if (!after.ok()) return after.status();

  Where where;
  where.In("job_id", filter.job_ids);
  where.In("run_id", filter.run_ids);
  where.In("device", filter.devices);
  where.In("op", filter.ops);
  where.In("impl", filter.impls);
  where.In("params", filter.params);
  where.In("dtype", filter.dtypes);
  if (filter.min_n > 0) where.Compare("n", ">=", filter.min_n);
  if (filter.max_n > 0) where.Compare("n", "<=", filter.max_n);
  if (filter.since_unix_ms > 0) where.Compare("measured_unix_ms", ">=", filter.since_unix_ms);
  if (filter.until_unix_ms > 0) where.Compare("measured_unix_ms", "<", filter.until_unix_ms);
  if (*after > 0) where.Compare("id", page.newest_first ? "<" : ">", *after);
  // The page's ids first, from the small rows and their indexes; then the
  // bytes of those ids only.
  const char* order = page.newest_first ? "DESC" : "ASC";
  const std::string sql = absl::StrCat(
      "SELECT r.id, b.result FROM (SELECT id FROM results", where.Sql(), " ORDER BY id ", order,
      " LIMIT ", *size + 1, ") r LEFT JOIN result_bytes b ON b.id = r.id ORDER BY r.id ", order);

  absl::StatusOr<std::unique_ptr<sqlite::Database>> reader = TakeReader();
  if (!reader.ok()) return reader.status();
  ResultPage out;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<sqlite::Statement>> stmt = (*reader)->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    where.BindTo(**stmt);
    size_t bytes = 0;
    while (true) {
      absl::StatusOr<bool> row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      const int64_t id = (*stmt)->Int(0);
      if (static_cast<int>(out.results.size()) == *size || bytes >= kMaxPageBytes) {
        out.next_page_token = MakeToken(out.ids.back(), query);
        return absl::OkStatus();
      }
      const absl::string_view blob = (*stmt)->Blob(1);
      v1::Result result;
      if ((*stmt)->IsNull(1) ||
          !result.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
        return absl::DataLossError(absl::StrCat("stored result ", id, " is damaged"));
      }
      bytes += blob.size();
      out.results.push_back(std::move(result));
      out.ids.push_back(id);
    }
  }();
  ReturnReader(*std::move(reader));
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<v1::Result>> ResultStore::LatestPerPoint(int limit) const {
  // max(id) per point walks the point index once; the bytes of the chosen
  // ids only.
  const std::string sql = absl::StrCat(
      "SELECT r.id, b.result FROM (SELECT max(id) AS id FROM results GROUP BY device, op, impl, "
      "params, dtype, n, timing ORDER BY id DESC LIMIT ",
      std::max(limit, 0), ") r LEFT JOIN result_bytes b ON b.id = r.id ORDER BY r.id DESC");
  absl::StatusOr<std::unique_ptr<sqlite::Database>> reader = TakeReader();
  if (!reader.ok()) return reader.status();
  std::vector<v1::Result> out;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<sqlite::Statement>> stmt = (*reader)->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    while (true) {
      absl::StatusOr<bool> row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      const absl::string_view blob = (*stmt)->Blob(1);
      v1::Result result;
      if ((*stmt)->IsNull(1) ||
          !result.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
        return absl::DataLossError(absl::StrCat("stored result ", (*stmt)->Int(0), " is damaged"));
      }
      out.push_back(std::move(result));
    }
  }();
  ReturnReader(*std::move(reader));
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<JobPage> ResultStore::ListJobs(const JobFilter& filter,
                                              const PageRequest& page) const {
  absl::StatusOr<int> size = EffectivePageSize(page.page_size);
  if (!size.ok()) return size.status();
  const std::string query = absl::StrCat(filter.Canonical(), page.newest_first ? ";desc" : "");
  absl::StatusOr<int64_t> after = ParseToken(page.page_token, query);
  if (!after.ok()) return after.status();

  Where where;
  where.In("run_id", filter.run_ids);
  where.In("device", filter.devices);
  where.In("state", filter.states);
  if (filter.since_unix_ms > 0) where.Compare("created_unix_ms", ">=", filter.since_unix_ms);
  if (filter.until_unix_ms > 0) where.Compare("created_unix_ms", "<", filter.until_unix_ms);
  if (*after > 0) where.Compare("seq", page.newest_first ? "<" : ">", *after);
  const std::string sql =
      absl::StrCat("SELECT ", kJobColumns, " FROM jobs", where.Sql(), " ORDER BY seq ",
                   page.newest_first ? "DESC" : "ASC", " LIMIT ", *size + 1);

  absl::StatusOr<std::unique_ptr<sqlite::Database>> reader = TakeReader();
  if (!reader.ok()) return reader.status();
  JobPage out;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<sqlite::Statement>> stmt = (*reader)->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    where.BindTo(**stmt);
    int64_t last_seq = 0;
    while (true) {
      absl::StatusOr<bool> row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      if (static_cast<int>(out.jobs.size()) == *size) {
        out.next_page_token = MakeToken(last_seq, query);
        return absl::OkStatus();
      }
      absl::StatusOr<JobRecord> job = JobFromRow(**stmt);
      if (!job.ok()) return job.status();
      last_seq = (*stmt)->Int(15);
      out.jobs.push_back(*std::move(job));
    }
  }();
  ReturnReader(*std::move(reader));
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<JobRecord> ResultStore::GetJob(const std::string& job_id) const {
  absl::StatusOr<std::unique_ptr<sqlite::Database>> reader = TakeReader();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<JobRecord> out = [&]() -> absl::StatusOr<JobRecord> {
    absl::StatusOr<std::unique_ptr<sqlite::Statement>> stmt =
        (*reader)->Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?"));
    if (!stmt.ok()) return stmt.status();
    (*stmt)->Bind(1, job_id);
    absl::StatusOr<bool> row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::NotFoundError(absl::StrCat("job_id: this host has no job '",
                                             Sanitized(job_id, kQuotedValueBytes), "'"));
    }
    return JobFromRow(**stmt);
  }();
  ReturnReader(*std::move(reader));
  return out;
}

}  // namespace flopd
