// The result store on a real SQLite file in a temporary directory.
#include "server/store/result_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/wire/wire.h"
#include "server/store/schema.h"
#include "tests/server/store/store_test_util.h"

namespace flopd {
namespace {

using testing::Deterministic;
using testing::MakeJob;
using testing::MakeResult;
using testing::ReadBytes;
using testing::TempStateDir;
using testing::WriteBytes;

constexpr char kJob1[] = "j-01hv3k7q2m-aaaaaa";
constexpr char kJob2[] = "j-01hv3k7q2n-bbbbbb";

std::unique_ptr<ResultStore> OpenOrDie(const std::string& dir, StoreOptions options = {}) {
  options.dir = dir;
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Every result matching `filter`, page by page.
std::vector<v1::Result> ListAll(const ResultStore& store, const ResultFilter& filter,
                                int page_size = 0, bool newest_first = false) {
  std::vector<v1::Result> all;
  PageRequest page{page_size, "", newest_first};
  while (true) {
    absl::StatusOr<ResultPage> got = store.ListResults(filter, page);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) break;
    all.insert(all.end(), got->results.begin(), got->results.end());
    if (got->next_page_token.empty()) break;
    page.page_token = got->next_page_token;
  }
  return all;
}

TEST(ResultStore, StoresTheExactResultBytesAndTheJob) {
  TempStateDir dir;
  auto store = OpenOrDie(dir.path() + "/nested/state");  // parents are created
  ASSERT_NE(store, nullptr);
  JobRecord job = MakeJob(kJob1, JobState::kRunning, 1000);
  job.started_unix_ms = 1001;
  job.owner = "token:alice";
  ASSERT_TRUE(store->RecordJob(job).ok());
  v1::Result a = MakeResult(kJob1, "outer", "fused", 1, "f32", 100, 2000);
  (*a.mutable_observations())["sm_clock_mhz_before"] = "1980";
  (*a.mutable_observations())["sm_clock_mhz_after"] = "1755";
  a.add_warnings("SM clock dropped");
  v1::Result b = MakeResult(kJob1, "outer", "fused", 1, "f32", 200, 2100);
  job.points_measured = 1;
  absl::StatusOr<int64_t> id_a = store->RecordResult(a, job);
  job.points_measured = 2;
  absl::StatusOr<int64_t> id_b = store->RecordResult(b, job);
  ASSERT_TRUE(id_a.ok() && id_b.ok());
  EXPECT_LT(*id_a, *id_b);

  std::vector<v1::Result> got = ListAll(*store, ResultFilter());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Deterministic(got[0]), Deterministic(a));
  EXPECT_EQ(Deterministic(got[1]), Deterministic(b));

  absl::StatusOr<JobRecord> stored = store->GetJob(kJob1);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, JobState::kRunning);
  EXPECT_EQ(stored->points_measured, 2) << "the job's row is updated with each result";
  EXPECT_EQ(stored->submission.client, "test client");
  EXPECT_EQ(stored->submission.run_id, "r-test");
  EXPECT_EQ(stored->submission.request.sizes, "100,200");
  EXPECT_EQ(stored->peer, "ipv4:127.0.0.1:1234");
  EXPECT_EQ(stored->owner, "token:alice");
  EXPECT_EQ(stored->started_unix_ms, 1001);

  job.state = JobState::kFinished;
  job.ended_unix_ms = 3000;
  job.status = absl::OkStatus();
  ASSERT_TRUE(store->RecordJob(job).ok());
  EXPECT_EQ(store->GetJob(kJob1)->state, JobState::kFinished);
  EXPECT_EQ(store->GetJob("j-01hv3k7q2m-zzzzzz").status().code(), absl::StatusCode::kNotFound);

  const StoreHealth health = store->Health();
  EXPECT_EQ(health.state, "ok");
  EXPECT_EQ(health.results, 2);
  EXPECT_EQ(health.jobs, 1);
  EXPECT_GT(health.bytes, 0);
  EXPECT_EQ(health.schema_version, kSchemaVersion);
  EXPECT_EQ(health.path, dir.path() + "/nested/state/flopd.db");
}

TEST(ResultStore, FiltersAgreeWithTheFiltersOwnMatcher) {
  TempStateDir dir;
  auto store = OpenOrDie(dir.path());
  std::vector<v1::Result> all;
  int64_t t = 10000;
  for (const char* job : {kJob1, kJob2}) {
    for (const char* dtype : {"f32", "f64"}) {
      for (int64_t n : {100, 200, 300}) {
        all.push_back(MakeResult(job, "matvec", "gemv", 0, dtype, n, t++, 5,
                                 job == kJob1 ? "r-one" : "r-two"));
        for (int axis : {0, 1}) {
          all.push_back(MakeResult(job, "outer", "fused", axis, dtype, n, t++, 5,
                                   job == kJob1 ? "r-one" : "r-two",
                                   axis == 1 ? "cuda:1" : "cpu:0"));
        }
      }
    }
  }
  ASSERT_TRUE(store->RecordResults(all).ok());
  std::vector<ResultFilter> filters(12);
  filters[1].ops = {"outer"};
  filters[2].params = {"axis=1"};
  filters[3].dtypes = {"f64"};
  filters[3].min_n = 150;
  filters[4].max_n = 200;
  filters[4].impls = {"gemv"};
  filters[5].job_ids = {kJob2};
  filters[6].run_ids = {"r-one"};
  filters[6].devices = {"cuda:1"};
  filters[7].since_unix_ms = 10010;
  filters[7].until_unix_ms = 10020;
  filters[8].ops = {"matvec", "outer"};
  filters[8].impls = {"fused"};
  filters[9].devices = {"cuda:7"};  // nothing there
  filters[10].params = {"axis=0", "axis=1"};
  filters[10].dtypes = {"f32"};
  filters[11].min_n = 300;
  filters[11].max_n = 300;
  for (size_t i = 0; i < filters.size(); ++i) {
    ResultFilter f = filters[i];
    ASSERT_TRUE(NormalizeResultFilter(&f).ok()) << i;
    std::vector<std::string> expected;
    for (const v1::Result& r : all) {
      if (f.Matches(IndexOf(r))) expected.push_back(Deterministic(r));
    }
    std::vector<std::string> got;
    for (const v1::Result& r : ListAll(*store, f, 4)) got.push_back(Deterministic(r));
    EXPECT_EQ(got, expected) << "filter " << i << ": " << f.Canonical();
  }
}

TEST(ResultStore, PagesHaveNoGapsOrDuplicatesWhileResultsAreInserted) {
  TempStateDir dir;
  auto store = OpenOrDie(dir.path());
  std::vector<v1::Result> first;
  for (int i = 0; i < 300; ++i)
    first.push_back(MakeResult(kJob1, "outer", "fused", i % 2, "f32", 100 + i, 1000 + i, 3));
  ASSERT_TRUE(store->RecordResults(first).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> inserted{0};
  std::thread writer([&] {
    JobRecord job = MakeJob(kJob2, JobState::kRunning, 1);
    int i = 0;
    while (!stop.load()) {
      ++job.points_measured;
      if (store
              ->RecordResult(
                  MakeResult(kJob2, "outer", "fused", i % 2, "f32", 5000 + i, 9000 + i, 3), job)
              .ok()) {
        inserted.fetch_add(1);
      }
      ++i;
    }
  });
  for (bool newest_first : {false, true}) {
    // Small pages, so that inserts land between them.
    std::vector<int64_t> ids;
    PageRequest page{7, "", newest_first};
    while (true) {
      absl::StatusOr<ResultPage> got = store->ListResults(ResultFilter(), page);
      ASSERT_TRUE(got.ok()) << got.status();
      ids.insert(ids.end(), got->ids.begin(), got->ids.end());
      if (got->next_page_token.empty()) break;
      page.page_token = got->next_page_token;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    // Strictly monotonic: no duplicates, in a stable order.
    for (size_t i = 1; i < ids.size(); ++i) {
      if (newest_first) {
        ASSERT_GT(ids[i - 1], ids[i]);
      } else {
        ASSERT_LT(ids[i - 1], ids[i]);
      }
    }
    // No gaps: every stored row in the range the pages covered was seen.
    const int64_t lo = newest_first ? ids.back() : ids.front();
    const int64_t hi = newest_first ? ids.front() : ids.back();
    std::set<int64_t> seen(ids.begin(), ids.end());
    ResultFilter everything;
    int64_t in_range = 0;
    for (const int64_t id : [&] {
           std::vector<int64_t> stored;
           PageRequest all{1000, "", false};
           while (true) {
             absl::StatusOr<ResultPage> p = store->ListResults(everything, all);
             EXPECT_TRUE(p.ok());
             if (!p.ok()) break;
             stored.insert(stored.end(), p->ids.begin(), p->ids.end());
             if (p->next_page_token.empty()) break;
             all.page_token = p->next_page_token;
           }
           return stored;
         }()) {
      if (id < lo || id > hi) continue;
      ++in_range;
      EXPECT_TRUE(seen.count(id)) << "row " << id << " was skipped";
    }
    EXPECT_EQ(in_range, static_cast<int64_t>(ids.size()));
    EXPECT_GE(ids.size(), 300u);
  }
  stop = true;
  writer.join();
  EXPECT_GT(inserted.load(), 0) << "the writer never got a turn; the test proved nothing";
}

TEST(ResultStore, RefusesTokensOfOtherQueriesAndClampsPageSizes) {
  TempStateDir dir;
  auto store = OpenOrDie(dir.path());
  std::vector<v1::Result> many;
  for (int i = 0; i < 1100; ++i)
    many.push_back(MakeResult(kJob1, "outer", "fused", i % 2, "f32", 10 + i, 1000 + i, 1));
  ASSERT_TRUE(store->RecordResults(many).ok());

  absl::StatusOr<ResultPage> huge = store->ListResults(ResultFilter(), {1 << 30, "", false});
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(huge->results.size(), static_cast<size_t>(kMaxPageSize));
  ASSERT_FALSE(huge->next_page_token.empty());

  ResultFilter outer;
  outer.ops = {"outer"};
  absl::StatusOr<ResultPage> other = store->ListResults(outer, {10, huge->next_page_token, false});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(other.status().message(), "page_token: not a token of this query"))
      << other.status();
  EXPECT_EQ(store->ListResults(ResultFilter(), {10, huge->next_page_token, true}).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "another order is another query";
  for (const char* garbage : {"x", "!!!", "MTIz", "LTUuMDAwMDAwMDAwMDAwMDAwMA"}) {
    EXPECT_EQ(store->ListResults(ResultFilter(), {10, garbage, false}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << garbage;
  }
  EXPECT_EQ(store->ListResults(ResultFilter(), {-1, "", false}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<ResultPage> rest =
      store->ListResults(ResultFilter(), {0, huge->next_page_token, false});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->results.size(), 100u) << "0 = the default page size";
}

TEST(ResultStore, ListsJobsByFilterNewestFirstAndPaged) {
  TempStateDir dir;
  auto store = OpenOrDie(dir.path());
  std::vector<std::string> ids;
  for (int i = 0; i < 9; ++i) {
    JobRecord job =
        MakeJob(NewJobId(1000 + i, i), i % 3 == 0 ? JobState::kFinished : JobState::kQueued,
                1000 + i, i < 5 ? "r-a" : "r-b");
    ids.push_back(job.id);
    ASSERT_TRUE(store->RecordJob(job).ok());
  }
  JobFilter finished;
  finished.states = {"finished"};
  absl::StatusOr<JobPage> page = store->ListJobs(finished, {2, "", true});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->jobs[0].id, ids[6]);
  EXPECT_EQ(page->jobs[1].id, ids[3]);
  page = store->ListJobs(finished, {2, page->next_page_token, true});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, ids[0]);
  EXPECT_TRUE(page->next_page_token.empty());
  JobFilter by_run;
  by_run.run_ids = {"r-b"};
  by_run.since_unix_ms = 1006;
  page = store->ListJobs(by_run, {0, "", false});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 3u);
  EXPECT_EQ(page->jobs[0].id, ids[6]);
}

TEST(ResultStore, JobsLeftRunningByAKilledProcessAreMarkedInterruptedOnOpen) {
  TempStateDir dir;
  {
    auto store = OpenOrDie(dir.path());
    JobRecord running = MakeJob(kJob1, JobState::kRunning, 1000);
    running.started_unix_ms = 1100;
    ASSERT_TRUE(store->RecordJob(running).ok());
    for (int i = 0; i < 3; ++i) {
      running.points_measured = i + 1;
      ASSERT_TRUE(
          store
              ->RecordResult(MakeResult(kJob1, "outer", "fused", 0, "f32", 100 * (i + 1), 2000 + i),
                             running)
              .ok());
    }
    ASSERT_TRUE(store->RecordJob(MakeJob(kJob2, JobState::kQueued, 1200)).ok());
    JobRecord done = MakeJob("j-01hv3k7q2p-cccccc", JobState::kFinished, 900);
    done.ended_unix_ms = 950;
    ASSERT_TRUE(store->RecordJob(done).ok());
  }  // as if killed: nothing else is written
  auto store = OpenOrDie(dir.path());
  absl::StatusOr<JobRecord> was_running = store->GetJob(kJob1);
  ASSERT_TRUE(was_running.ok());
  EXPECT_EQ(was_running->state, JobState::kInterrupted);
  EXPECT_EQ(was_running->points_measured, 3);
  EXPECT_EQ(was_running->ended_unix_ms, 2002) << "its last sign of life: the last result";
  EXPECT_EQ(was_running->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(
      absl::StrContains(was_running->status.message(), "flopd stopped before the job ended"));
  EXPECT_EQ(store->GetJob(kJob2)->state, JobState::kInterrupted);
  EXPECT_EQ(store->GetJob(kJob2)->ended_unix_ms, 1200);
  EXPECT_EQ(store->GetJob("j-01hv3k7q2p-cccccc")->state, JobState::kFinished);
  EXPECT_EQ(store->Health().results, 3);
}

TEST(ResultStore, OneFlopdPerStateDirectory) {
  TempStateDir dir;
  auto first = OpenOrDie(dir.path());
  StoreOptions options;
  options.dir = dir.path();
  absl::StatusOr<std::unique_ptr<ResultStore>> second = ResultStore::Open(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(second.status().message(),
                                absl::StrCat("is in use by another flopd (pid ", getpid(), ")")))
      << second.status();
  first.reset();
  EXPECT_TRUE(ResultStore::Open(options).ok()) << "the lock goes with the store";
}

TEST(ResultStore, ACorruptFileIsRefusedAndNeverWritten) {
  TempStateDir dir;
  std::string garbage = "this is not a database, but somebody's precious file\n";
  for (int i = 0; i < 200; ++i) garbage += std::string(1, static_cast<char>(i));
  WriteBytes(dir.db(), garbage);
  StoreOptions options;
  options.dir = dir.path();
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(store.status().message(), dir.db())) << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "left as it is")) << store.status();
  EXPECT_EQ(ReadBytes(dir.db()), garbage);
  EXPECT_FALSE(std::filesystem::exists(dir.db() + "-wal"));

  // A damaged header of a real store: the same.
  TempStateDir dir2;
  OpenOrDie(dir2.path())->RecordJob(MakeJob(kJob1, JobState::kFinished, 1)).IgnoreError();
  std::string bytes = ReadBytes(dir2.db());
  ASSERT_GT(bytes.size(), 100u);
  for (int i = 0; i < 16; ++i) bytes[i] = 'X';
  WriteBytes(dir2.db(), bytes);
  std::filesystem::remove(dir2.db() + "-wal");
  options.dir = dir2.path();
  store = ResultStore::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_EQ(ReadBytes(dir2.db()), bytes);
}

TEST(ResultStore, ForeignOrNewerDatabasesAreRefusedUntouched) {
  TempStateDir dir;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE photos(id INTEGER); INSERT INTO photos VALUES(1);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string foreign = ReadBytes(dir.db());
  StoreOptions options;
  options.dir = dir.path();
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "not a flopd store")) << store.status();
  EXPECT_EQ(ReadBytes(dir.db()), foreign);

  TempStateDir dir2;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir2.db().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE results(x); PRAGMA user_version = 99;", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string newer = ReadBytes(dir2.db());
  options.dir = dir2.path();
  store = ResultStore::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "schema version is 99, newer"))
      << store.status();
  EXPECT_EQ(ReadBytes(dir2.db()), newer);
}

TEST(ResultStore, AnUnwritableStateDirectoryIsRefusedSayingWhy) {
  TempStateDir dir;
  WriteBytes(dir.path() + "/file", "in the way");
  StoreOptions options;
  options.dir = dir.path() + "/file/state";
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::StrContains(store.status().message(), "cannot create the state directory"))
      << store.status();
}

TEST(ResultStore, AReadOnlyStateDirectoryIsRefusedSayingWhy) {
  TempStateDir ro;
  chmod(ro.path().c_str(), 0555);
  // Root writes into read-only directories: then the child drops to nobody.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (geteuid() == 0 && setuid(65534) != 0) _exit(3);
    StoreOptions options;
    options.dir = ro.path();
    absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
    if (store.ok()) _exit(1);
    if (store.status().code() != absl::StatusCode::kPermissionDenied ||
        !absl::StrContains(store.status().message(), "Permission denied") ||
        !absl::StrContains(store.status().message(), "--state-dir")) {
      _exit(2);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: it opened; 2: wrong error; 3: cannot drop root";
  EXPECT_FALSE(std::filesystem::exists(ro.path() + "/flopd.db"));
}

TEST(ResultStore, AFullDiskDegradesTheStoreUntilWritesSucceedAgain) {
  TempStateDir dir;
  StoreOptions options;
  options.retention.max_results = 5;
  options.background_maintenance = false;  // pruned by hand below
  options.max_page_count = 40;             // 160 KiB
  auto store = OpenOrDie(dir.path(), options);
  std::vector<bool> reports;
  store->SetWritableListener([&](bool writable) { reports.push_back(writable); });
  JobRecord job = MakeJob(kJob1, JobState::kRunning, 1);
  int stored = 0, failed = 0;
  for (int i = 0; i < 400 && failed < 3; ++i) {
    ++job.points_measured;
    if (store
            ->RecordResult(MakeResult(kJob1, "outer", "fused", 0, "f32", 100 + i, 1000 + i, 100),
                           job)
            .ok()) {
      ++stored;
    } else {
      ++failed;
    }
  }
  ASSERT_EQ(failed, 3) << "the cap never filled";
  StoreHealth health = store->Health();
  EXPECT_EQ(health.state, "degraded");
  EXPECT_TRUE(absl::StrContains(health.detail, "full")) << health.detail;
  EXPECT_EQ(health.results_not_stored, 3);
  EXPECT_EQ(health.results, stored);
  EXPECT_EQ(reports, (std::vector<bool>{false}));

  ASSERT_TRUE(store->Prune().ok());  // frees pages: the "disk" has room again
  EXPECT_TRUE(
      store->RecordResult(MakeResult(kJob1, "outer", "fused", 0, "f32", 7, 99999), job).ok());
  health = store->Health();
  EXPECT_EQ(health.state, "ok");
  EXPECT_EQ(health.results_not_stored, 3) << "the loss stays on the record";
  EXPECT_EQ(reports, (std::vector<bool>{false, true}));
}

TEST(ResultStore, RetentionKeepsTheNewestAndTheRecentAndDropsEmptyOldJobs) {
  TempStateDir dir;
  StoreOptions options;
  options.retention = *ParseRetention("1d,50");
  options.background_maintenance = false;
  auto store = OpenOrDie(dir.path(), options);
  const int64_t now = absl::ToUnixMillis(absl::Now());
  const int64_t old = now - 3 * 86400 * 1000;
  JobRecord old_job = MakeJob(kJob1, JobState::kFinished, old);
  old_job.ended_unix_ms = old + 10;
  JobRecord old_empty = MakeJob("j-01hv3k7q2p-cccccc", JobState::kFailed, old);
  old_empty.ended_unix_ms = old + 1;
  JobRecord new_job = MakeJob(kJob2, JobState::kFinished, now);
  new_job.ended_unix_ms = now;
  for (const JobRecord& j : {old_job, old_empty, new_job}) ASSERT_TRUE(store->RecordJob(j).ok());
  std::vector<v1::Result> results;
  for (int i = 0; i < 30; ++i)
    results.push_back(MakeResult(kJob1, "outer", "fused", 0, "f32", 10 + i, old + i, 1));
  for (int i = 0; i < 70; ++i)
    results.push_back(MakeResult(kJob2, "outer", "fused", 0, "f32", 10 + i, now + i, 1));
  ASSERT_TRUE(store->RecordResults(results).ok());
  ASSERT_TRUE(store->Prune().ok());
  std::vector<v1::Result> kept = ListAll(*store, ResultFilter());
  ASSERT_EQ(kept.size(), 50u);
  EXPECT_EQ(kept.front().n(), 10 + 20) << "the newest 50 of the recent 70";
  EXPECT_EQ(kept.back().n(), 10 + 69);
  EXPECT_EQ(store->Health().results, 50);
  EXPECT_EQ(store->GetJob(kJob1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetJob("j-01hv3k7q2p-cccccc").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->GetJob(kJob2).ok());
}

TEST(ParseRetention, AgesCountsAndBoth) {
  EXPECT_TRUE(ParseRetention("")->keeps_everything());
  EXPECT_EQ(ParseRetention("30d")->max_age_ms, int64_t{30} * 86400 * 1000);
  EXPECT_EQ(ParseRetention("12h")->max_age_ms, int64_t{12} * 3600 * 1000);
  EXPECT_EQ(ParseRetention("2w")->max_age_ms, int64_t{14} * 86400 * 1000);
  EXPECT_EQ(ParseRetention("100000")->max_results, 100000);
  absl::StatusOr<RetentionPolicy> both = ParseRetention("30d,100000");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->max_results, 100000);
  EXPECT_EQ(both->ToString(), "30d,100000");
  EXPECT_EQ(ParseRetention("90m")->ToString(), "90m");
  EXPECT_EQ(RetentionPolicy().ToString(), "keep everything");
  for (const char* bad : {"30x", "d", "-5", "0", "0d", "30d,40d", "5,6", "1.5d", "abc"}) {
    absl::StatusOr<RetentionPolicy> p = ParseRetention(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_TRUE(absl::StartsWith(p.status().message(), "--retain: ")) << bad;
    }
  }
}

TEST(DefaultStateDir, FollowsSystemdThenXdgThenHome) {
  const char* saved[] = {getenv("STATE_DIRECTORY"), getenv("XDG_STATE_HOME"), getenv("HOME")};
  const std::string keep[] = {saved[0] ? saved[0] : "", saved[1] ? saved[1] : "",
                              saved[2] ? saved[2] : ""};
  setenv("HOME", "/home/u", 1);
  unsetenv("STATE_DIRECTORY");
  unsetenv("XDG_STATE_HOME");
  EXPECT_EQ(DefaultStateDir(), "/home/u/.local/state/flopd");
  setenv("XDG_STATE_HOME", "/x/state", 1);
  EXPECT_EQ(DefaultStateDir(), "/x/state/flopd");
  setenv("STATE_DIRECTORY", "/var/lib/flopd:/var/lib/other", 1);
  EXPECT_EQ(DefaultStateDir(), "/var/lib/flopd");
  const char* names[] = {"STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"};
  for (int i = 0; i < 3; ++i) {
    if (saved[i]) {
      setenv(names[i], keep[i].c_str(), 1);
    } else {
      unsetenv(names[i]);
    }
  }
}

}  // namespace
}  // namespace flopd
