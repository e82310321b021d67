#include "client/result_sink.h"

#include <sstream>
#include <string>
#include <vector>

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

TEST(OpenResultFile, FailsOnAnUnwritablePath) {
  absl::StatusOr<std::unique_ptr<ResultSink>> sink =
      OpenResultFile("/nonexistent-dir/results.jsonl");
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().message(), "cannot write '/nonexistent-dir/results.jsonl'");
}

}  // namespace
}  // namespace flopd
