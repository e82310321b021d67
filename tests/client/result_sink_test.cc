#include "client/result_sink.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/output_file.h"
#include "client/result_format.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

v1::Result Make(const std::string& host, const std::string& impl, int64_t n, double median) {
  v1::Result r;
  r.set_host_address(host);
  r.set_device("cpu:0");
  r.set_op("matvec");
  r.set_impl(impl);
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  r.mutable_time()->set_median(median);
  r.mutable_verification()->set_passed(true);
  return r;
}

std::vector<v1::Result> Sample() {
  return {Make("a:1", "gemv", 100, 1e-6), Make("b:1", "gemm", 100, 2e-6),
          Make("a:1", "gemm", 200, 3e-6)};
}

std::string Write(ResultFormat format, const std::vector<v1::Result>& results,
                  std::vector<std::string> host_order = {}) {
  std::ostringstream out;
  std::unique_ptr<ResultSink> sink = NewResultSink(format, &out, std::move(host_order));
  sink->Begin();
  for (const v1::Result& r : results) sink->Add(r);
  sink->End();
  return out.str();
}

TEST(ResultSink, EachFormatWritesTheTextOfResultFormat) {
  const std::vector<v1::Result> results = Sample();
  std::string csv = CsvHeader() + "\n";
  std::string jsonl;
  for (const v1::Result& r : results) {
    csv += ToCsvRow(r) + "\n";
    jsonl += ToJsonLine(r) + "\n";
  }
  EXPECT_EQ(Write(ResultFormat::kCsv, results), csv);
  EXPECT_EQ(Write(ResultFormat::kJsonl, results), jsonl);
  EXPECT_EQ(Write(ResultFormat::kJson, results), ToJsonArray(results));
  EXPECT_EQ(Write(ResultFormat::kTable, results, {"b:1", "a:1"}),
            AggregateTable(results, {"b:1", "a:1"}));
}

TEST(ResultSink, NoResultsStillGiveAWholeDocument) {
  EXPECT_EQ(Write(ResultFormat::kCsv, {}), CsvHeader() + "\n");
  EXPECT_EQ(Write(ResultFormat::kJson, {}), "[\n\n]\n");
  EXPECT_EQ(Write(ResultFormat::kJsonl, {}), "");
  EXPECT_EQ(Write(ResultFormat::kTable, {}), "no results\n");
}

TEST(ResultSink, StreamingFormatsWriteEachResultInAdd) {
  for (ResultFormat format : {ResultFormat::kCsv, ResultFormat::kJsonl}) {
    std::ostringstream out;
    std::unique_ptr<ResultSink> sink = NewResultSink(format, &out);
    sink->Begin();
    const size_t before = out.str().size();
    sink->Add(Sample()[0]);
    EXPECT_GT(out.str().size(), before);
    EXPECT_EQ(out.str().back(), '\n');
  }
  std::ostringstream out;
  std::unique_ptr<ResultSink> json = NewResultSink(ResultFormat::kJson, &out);
  json->Begin();
  json->Add(Sample()[0]);
  EXPECT_EQ(out.str(), "");  // a JSON array is whole only at End()
}

TEST(ParseResultFormat, KnowsTheFourNamesAndNamesThemInItsError) {
  EXPECT_EQ(*ParseResultFormat("table"), ResultFormat::kTable);
  EXPECT_EQ(*ParseResultFormat("csv"), ResultFormat::kCsv);
  EXPECT_EQ(*ParseResultFormat("json"), ResultFormat::kJson);
  EXPECT_EQ(*ParseResultFormat("jsonl"), ResultFormat::kJsonl);
  absl::StatusOr<ResultFormat> bad = ParseResultFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "format: unknown format 'xml'; allowed: table, csv, json, jsonl");
}

TEST(ResultFormatForPath, PicksByExtensionElseJsonLines) {
  EXPECT_EQ(ResultFormatForPath("r.csv"), ResultFormat::kCsv);
  EXPECT_EQ(ResultFormatForPath("r.json"), ResultFormat::kJson);
  EXPECT_EQ(ResultFormatForPath("r.jsonl"), ResultFormat::kJsonl);
  EXPECT_EQ(ResultFormatForPath("results"), ResultFormat::kJsonl);
}

// A fresh directory for one test's files, removed at its end.
class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "flopctl-files-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  // The names in the directory: no temporary file may be left behind.
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

// `flopctl run --out FILE` used to truncate FILE before it even dialled: an
// existing file keeps its bytes until the new one is complete.
TEST_F(FilesTest, AnExistingResultsFileIsUntouchedUntilTheNewOneIsComplete) {
  for (const char* name : {"r.jsonl", "r.csv", "r.json"}) {
    const std::string path = PathOf(name);
    WriteFile(path, "precious\n");
    absl::StatusOr<std::unique_ptr<ResultSink>> file = OpenResultFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    (*file)->Begin();
    for (const v1::Result& r : Sample()) (*file)->Add(r);
    EXPECT_EQ(Read(path), "precious\n") << name << ": replaced before it was complete";
    (*file)->End();
    std::ostringstream expected;
    std::unique_ptr<ResultSink> same = NewResultSink(ResultFormatForPath(path), &expected);
    same->Begin();
    for (const v1::Result& r : Sample()) same->Add(r);
    same->End();
    EXPECT_EQ(Read(path), expected.str()) << name;
  }
  EXPECT_EQ(Names(), (std::vector<std::string>{"r.csv", "r.json", "r.jsonl"}));
}

TEST_F(FilesTest, AResultsFileOfACommandThatFailedBeforeAnyResultLeavesTheFileAsItWas) {
  const std::string path = PathOf("r.json");
  WriteFile(path, "precious\n");
  absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Begin();
  EXPECT_EQ((*file)->Close(/*command_failed=*/true),
            "--out: no results arrived; " + path + " was left as it was");
  EXPECT_EQ(Read(path), "precious\n");
  EXPECT_EQ(Names(), (std::vector<std::string>{"r.json"}));

  absl::StatusOr<std::unique_ptr<ResultFile>> fresh = OpenResultFile(PathOf("new.jsonl"));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ((*fresh)->Close(true), "--out: no results arrived; " + PathOf("new.jsonl") +
                                       " was not created");
  EXPECT_EQ(Names(), (std::vector<std::string>{"r.json"}));
}

// A command cut short (a failed host, Ctrl-C) keeps what arrived, in a
// whole document: a JSON array of the results so far.
TEST_F(FilesTest, AResultsFileOfACommandThatFailedAfterSomeResultsKeepsThem) {
  const std::string path = PathOf("r.json");
  WriteFile(path, "precious\n");
  absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Begin();
  (*file)->Add(Sample()[0]);
  (*file)->Add(Sample()[1]);
  EXPECT_EQ((*file)->Close(/*command_failed=*/true),
            "wrote 2 results to " + path +
                " (replaced the file, which held no flopd results; --append adds instead)");
  EXPECT_EQ(Read(path), ToJsonArray({Sample()[0], Sample()[1]}));
  EXPECT_EQ(Names(), (std::vector<std::string>{"r.json"}));
}

TEST_F(FilesTest, AResultsFileNeverEndedIsDiscardedWithItsTemporaryFile) {
  const std::string path = PathOf("r.csv");
  WriteFile(path, "precious\n");
  {
    absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    (*file)->Begin();
    (*file)->Add(Sample()[0]);
    EXPECT_EQ(Names().size(), 2u) << "the results go to a temporary file beside it";
  }
  EXPECT_EQ(Read(path), "precious\n");
  EXPECT_EQ(Names(), (std::vector<std::string>{"r.csv"}));
}

TEST_F(FilesTest, OpenResultFileFailsOnAnUnwritablePath) {
  WriteFile(PathOf("file"), "x");
  const std::string path = PathOf("file") + "/sub/results.jsonl";  // under a plain file
  absl::StatusOr<std::unique_ptr<ResultSink>> sink = OpenResultFile(path);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().message(), "cannot write '" + path + "'");
  EXPECT_EQ(CheckReplaceable(path).message(), "cannot write '" + path + "'");
}

// `--out a/b/r.jsonl` failed when a/b did not exist: missing directories are
// created, for results, plots and reports alike; CheckReplaceable (history's
// check before it dials) creates none.
TEST_F(FilesTest, MissingParentDirectoriesAreCreated) {
  const std::string path = PathOf("a/b/r.jsonl");
  EXPECT_TRUE(CheckReplaceable(path).ok());
  EXPECT_FALSE(std::filesystem::exists(PathOf("a")));
  absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Begin();
  (*file)->Add(Sample()[0]);
  EXPECT_EQ((*file)->Close(false), "wrote 1 results to " + path);
  EXPECT_EQ(ReadResultsFile(path)->size(), 1u);
  ASSERT_TRUE(WriteTextFile(PathOf("c/d/plot.svg"), "<svg/>").ok());
  EXPECT_EQ(Read(PathOf("c/d/plot.svg")), "<svg/>");
}

// Replacing stays the default, and flopctl says what the file held.
TEST_F(FilesTest, ReplacingAFileSaysWhatItHeld) {
  const std::string path = PathOf("r.jsonl");
  WriteFile(path, ToJsonLine(Sample()[0]) + "\n" + ToJsonLine(Sample()[1]) + "\n");
  absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Begin();
  (*file)->Add(Sample()[2]);
  EXPECT_EQ((*file)->Close(false), "wrote 1 results to " + path +
                                       " (replaced the file, which held 2 results; --append "
                                       "adds instead)");
  EXPECT_EQ(ReadResultsFile(path)->size(), 1u);

  WriteFile(path, "precious\n");
  file = OpenResultFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Begin();
  (*file)->Add(Sample()[2]);
  EXPECT_EQ((*file)->Close(false), "wrote 1 results to " + path +
                                       " (replaced the file, which held no flopd results; "
                                       "--append adds instead)");
}

// --append adds to a file in each format: JSON Lines and CSV records follow
// the file's own (one CSV header), a JSON array gets the new results after
// its old ones; every file still reads back whole.
TEST_F(FilesTest, AppendingAddsToTheFileInEachFormat) {
  ResultFileOptions append;
  append.append = true;
  for (const char* name : {"r.jsonl", "r.csv", "r.json"}) {
    const std::string path = PathOf(name);
    for (int round = 0; round < 2; ++round) {  // the first creates the file
      absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path, append);
      ASSERT_TRUE(file.ok()) << file.status();
      (*file)->Begin();
      for (const v1::Result& r : Sample()) (*file)->Add(r);
      const std::string said = (*file)->Close(false);
      EXPECT_EQ(said, "wrote 3 results to " + path +
                          (round == 0 ? "" : " (after its 3 earlier results)"))
          << name;
    }
    absl::StatusOr<std::vector<v1::Result>> back = ReadResultsFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), 6u) << name;
    EXPECT_EQ((*back)[3].SerializeAsString(), Sample()[0].SerializeAsString()) << name;
  }
  const std::string csv = Read(PathOf("r.csv"));
  EXPECT_EQ(csv.find(CsvHeader()), csv.rfind(CsvHeader())) << "one header\n" << csv;
  EXPECT_EQ(Names(), (std::vector<std::string>{"r.csv", "r.json", "r.jsonl"}));
}

TEST_F(FilesTest, AppendingRefusesAFileItCannotAddTo) {
  ResultFileOptions append;
  append.append = true;
  struct Case {
    std::string name, text, error;
  };
  const std::vector<Case> cases = {
      {"a.jsonl", CsvHeader() + "\n" + ToCsvRow(Sample()[0]) + "\n",
       "it holds csv, not the jsonl its name asks for"},
      {"b.csv", "host_address,op,n\nh:1,matvec,64\n",
       "its CSV columns are not this flopctl's (another version wrote it); write to a new file"},
      {"c.json", "precious\n", "c.json: not a flopd result: not JSON (Unexpected token.)"},
  };
  for (const Case& c : cases) {
    const std::string path = PathOf(c.name);
    WriteFile(path, c.text);
    absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile(path, append);
    ASSERT_FALSE(file.ok()) << c.name;
    EXPECT_TRUE(absl::StartsWith(file.status().message(), "cannot append to '" + path + "': "))
        << file.status();
    EXPECT_TRUE(absl::StrContains(file.status().message(), c.error)) << file.status();
    EXPECT_EQ(Read(path), c.text);
  }
}

// `--out -` created a file named "-": it is standard output, in the format
// asked for (a table is not one: JSON Lines), streamed as results arrive.
TEST_F(FilesTest, DashIsStandardOutput) {
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  for (ResultFormat format : {ResultFormat::kCsv, ResultFormat::kJsonl, ResultFormat::kTable}) {
    std::ostringstream out;
    ResultFileOptions options;
    options.stdout_format = format;
    options.stdout_stream = &out;
    absl::StatusOr<std::unique_ptr<ResultFile>> file = OpenResultFile("-", options);
    ASSERT_TRUE(file.ok()) << file.status();
    (*file)->Begin();
    (*file)->Add(Sample()[0]);
    const std::string first = out.str();
    (*file)->Add(Sample()[1]);
    EXPECT_EQ((*file)->Close(false), "wrote 2 results to stdout");
    const ResultFormat written = format == ResultFormat::kTable ? ResultFormat::kJsonl : format;
    std::ostringstream expected;
    std::unique_ptr<ResultSink> same = NewResultSink(written, &expected);
    same->Begin();
    same->Add(Sample()[0]);
    EXPECT_EQ(first, expected.str()) << "streamed as it arrives";
    same->Add(Sample()[1]);
    same->End();
    EXPECT_EQ(out.str(), expected.str());
    EXPECT_EQ(ParseResults(out.str(), "stdout")->size(), 2u);
  }
  std::filesystem::current_path(before);
  EXPECT_TRUE(Names().empty()) << "no file named -";
}

TEST_F(FilesTest, WriteTextFileReplacesTheFileAndKeepsItsMode) {
  const std::string path = PathOf("plot.svg");
  WriteFile(path, "old");
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  ASSERT_TRUE(WriteTextFile(path, "new").ok());
  EXPECT_EQ(Read(path), "new");
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0640u);
  EXPECT_EQ(Names(), (std::vector<std::string>{"plot.svg"}));
}

TEST_F(FilesTest, ALinkIsFollowedToTheFileItNames) {
  const std::string target = PathOf("target.svg");
  const std::string link = PathOf("link.svg");
  WriteFile(target, "old");
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  ASSERT_TRUE(WriteTextFile(link, "new").ok());
  EXPECT_EQ(Read(target), "new");
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(Names(), (std::vector<std::string>{"link.svg", "target.svg"}));
}

TEST_F(FilesTest, ADirectoryOrAFileThatMayNotBeWrittenIsRefusedAndLeftAsItWas) {
  EXPECT_EQ(WriteTextFile(dir_, "x").message(), "cannot write '" + dir_ + "'");
  if (geteuid() != 0) {  // root may write any file
    const std::string path = PathOf("read-only.svg");
    WriteFile(path, "old");
    ASSERT_EQ(chmod(path.c_str(), 0444), 0);
    EXPECT_EQ(WriteTextFile(path, "new").message(), "cannot write '" + path + "'");
    EXPECT_EQ(CheckReplaceable(path).message(), "cannot write '" + path + "'");
    EXPECT_EQ(Read(path), "old");
  }
  EXPECT_TRUE(CheckReplaceable(PathOf("fresh.jsonl")).ok());
  EXPECT_FALSE(std::filesystem::exists(PathOf("fresh.jsonl")));
}

}  // namespace
}  // namespace flopd
