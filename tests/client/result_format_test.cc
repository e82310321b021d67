#include "client/result_format.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/host_client.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

v1::Result Make(const std::string& host, const std::string& op, const std::string& impl, int axis,
                int64_t n, double median) {
  v1::Result r;
  r.set_host_address(host);
  r.set_device("cpu:0");
  r.set_op(op);
  r.set_impl(impl);
  if (axis >= 0) (*r.mutable_params())["axis"] = axis;
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  r.mutable_time()->set_median(median);
  r.set_relative_noise(0.003);
  r.mutable_verification()->set_passed(true);
  return r;
}

// The row of the table whose first cells are `op impl`.
std::string Row(const std::string& table, const std::string& op, const std::string& impl) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<absl::string_view> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() > 2 && cells[0] == op && cells[1] == impl) return std::string(line);
  }
  return "";
}

TEST(FormatSeconds, PicksAUnitWithFourSignificantDigits) {
  EXPECT_EQ(FormatSeconds(1.5e-8), "15 ns");
  EXPECT_EQ(FormatSeconds(0.00012346), "123.5 µs");
  EXPECT_EQ(FormatSeconds(0.0025), "2.5 ms");
  EXPECT_EQ(FormatSeconds(3.0), "3 s");
  EXPECT_EQ(FormatSeconds(0), "-");
}

TEST(AggregateTable, FleetMedianAndRatioToMatvecGemm) {
  std::vector<v1::Result> results = {
      Make("a:1", "matvec", "gemm", -1, 1000, 1e-3), Make("b:1", "matvec", "gemm", -1, 1000, 3e-3),
      Make("c:1", "matvec", "gemm", -1, 1000, 2e-3), Make("a:1", "outer", "library", 0, 1000, 4e-3),
      Make("b:1", "outer", "library", 0, 1000, 5e-3), Make("c:1", "outer", "library", 0, 1000, 6e-3),
  };
  const std::string table = AggregateTable(results, {"a:1", "b:1", "c:1"});
  EXPECT_TRUE(absl::StrContains(table, "fleet median")) << table;
  const std::string matvec = Row(table, "matvec", "gemm");
  const std::string outer = Row(table, "outer", "library");
  // Fleet medians: matvec 2 ms, outer 5 ms -> ratio 2.50x.
  EXPECT_TRUE(absl::StrContains(matvec, "2 ms")) << table;
  EXPECT_TRUE(absl::StrContains(matvec, "1.00x")) << table;
  EXPECT_TRUE(absl::StrContains(outer, "axis=0")) << table;
  EXPECT_TRUE(absl::StrContains(outer, "5 ms")) << table;
  EXPECT_TRUE(absl::StrContains(outer, "2.50x")) << table;
  EXPECT_TRUE(absl::StrContains(outer, "ok")) << table;
}

TEST(AggregateTable, MissingHostShowsADashAndFailedVerificationShowsFail) {
  v1::Result bad = Make("b:1", "outer", "fused", 1, 10, 1e-6);
  bad.mutable_verification()->set_passed(false);
  const std::string table =
      AggregateTable({Make("a:1", "matvec", "gemv", -1, 10, 1e-6), bad}, {"a:1", "b:1"});
  EXPECT_TRUE(absl::StrContains(Row(table, "matvec", "gemv"), " - ")) << table;
  EXPECT_TRUE(absl::StrContains(Row(table, "outer", "fused"), "FAIL")) << table;
  // Without matvec/gemm the fastest matvec impl is the reference: 1 us / 1 us.
  EXPECT_TRUE(absl::StrContains(Row(table, "outer", "fused"), "1.00x")) << table;
}

TEST(AggregateTable, RowsGoByDtypeThenNThenOpImplParams) {
  v1::Result f64 = Make("a:1", "matvec", "gemv", -1, 10, 1e-6);
  f64.set_dtype("f64");
  const std::string table = AggregateTable(
      {Make("a:1", "outer", "fused", 1, 20, 1e-6), f64, Make("a:1", "outer", "fused", 0, 20, 1e-6),
       Make("a:1", "outer", "fused", 1, 10, 1e-6)},
      {"a:1"});
  std::vector<std::string> rows;  // each row's cells up to N, one space apart
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<absl::string_view> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() < 5 || (cells[0] != "matvec" && cells[0] != "outer")) continue;
    const size_t through_n = cells[2] == "f64" ? 4 : 5;  // matvec has no params cell
    rows.push_back(absl::StrJoin(cells.begin(), cells.begin() + through_n, " "));
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"outer fused axis=1 f32 10", "outer fused axis=0 f32 20",
                                            "outer fused axis=1 f32 20", "matvec gemv f64 10"}))
      << table;
}

TEST(AggregateTable, TheVsColumnAndItsFooterNameTheCatalogsBaseline) {
  const std::string table = AggregateTable(
      {Make("a:1", "matvec", "gemm", -1, 10, 2e-6), Make("a:1", "outer", "fused", 0, 10, 1e-6)},
      {"a:1"});
  EXPECT_TRUE(absl::StrContains(table, "  vs matvec  ")) << table;
  EXPECT_TRUE(absl::StrContains(table, "\nvs matvec = time / time of matvec/gemm ")) << table;
  EXPECT_TRUE(absl::StrContains(Row(table, "outer", "fused"), "0.50x")) << table;
}

// The cells of the table row of (op, impl, dtype, N), split on spaces; the
// last five of a one-host table without roofline are GFLOP/s, GB/s, noise,
// vs and verified.
std::vector<std::string> Cells(const std::string& table, const std::string& op,
                               const std::string& impl, const std::string& dtype, int64_t n) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() < 8 || cells[0] != op || cells[1] != impl) continue;
    const size_t d = op == "matvec" ? 2 : 3;  // matvec has no params cell
    if (cells[d] == dtype && cells[d + 1] == absl::StrCat(n)) return cells;
  }
  return {};
}

// gemm slower than gemv (as on every device where the seed's reference
// loses), at two sizes and in two dtypes, each with its own times: every
// row's ratio is its median over matvec/gemm's at the same dtype and N, not
// over the fastest matvec impl, another size or another dtype.
TEST(AggregateTable, VsMatvecDividesByGemmAtTheSameDtypeAndSize) {
  struct Case {
    const char* dtype;
    int64_t n;
    const char* op;
    const char* impl;
    double median;
    const char* gflops;
    const char* gbytes;
    const char* vs;
  };
  const std::vector<Case> cases = {
      {"f32", 1000, "matvec", "gemm", 4e-3, "0.4998", "1.002", "1.00x"},
      {"f32", 1000, "matvec", "gemv", 1e-3, "1.999", "4.008", "0.25x"},
      {"f32", 1000, "outer", "library", 6e-3, "0.3332", "1.335", "1.50x"},
      {"f32", 1000, "outer", "fused", 2e-3, "0.9995", "0.006", "0.50x"},
      {"f32", 2000, "matvec", "gemm", 10e-3, "0.7998", "1.602", "1.00x"},
      {"f32", 2000, "matvec", "gemv", 5e-3, "1.6", "3.203", "0.50x"},
      {"f32", 2000, "outer", "library", 30e-3, "0.2666", "1.067", "3.00x"},
      {"f32", 2000, "outer", "fused", 4e-3, "2", "0.006", "0.40x"},
      {"f64", 1000, "matvec", "gemm", 8e-3, "0.2499", "1.002", "1.00x"},
      {"f64", 1000, "matvec", "gemv", 2.4e-3, "0.8329", "3.34", "0.30x"},
      {"f64", 1000, "outer", "library", 12e-3, "0.1666", "1.335", "1.50x"},
      {"f64", 1000, "outer", "fused", 6e-3, "0.3332", "0.004", "0.75x"},
      {"f64", 2000, "matvec", "gemm", 16e-3, "0.4999", "2.002", "1.00x"},
      {"f64", 2000, "matvec", "gemv", 12e-3, "0.6665", "2.669", "0.75x"},
      {"f64", 2000, "outer", "library", 40e-3, "0.1999", "1.601", "2.50x"},
      {"f64", 2000, "outer", "fused", 20e-3, "0.3999", "0.0024", "1.25x"},
  };
  std::vector<v1::Result> results;
  for (const Case& c : cases) {
    const bool outer = std::string(c.op) == "outer";
    v1::Result r = Make("a:1", c.op, c.impl, outer ? 0 : -1, c.n, c.median);
    r.set_dtype(c.dtype);
    const int64_t n = c.n;
    const int64_t elements = std::string(c.impl) == "fused"     ? 3 * n
                             : std::string(c.impl) == "library" ? 2 * n * n + 3 * n
                                                                : n * n + 2 * n;
    r.set_min_bytes(elements * (std::string(c.dtype) == "f32" ? 4 : 8));
    results.push_back(r);
  }
  const std::string table = AggregateTable(results, {"a:1"});
  for (const Case& c : cases) {
    const std::vector<std::string> cells = Cells(table, c.op, c.impl, c.dtype, c.n);
    ASSERT_FALSE(cells.empty()) << c.op << "/" << c.impl << " " << c.dtype << " " << c.n << "\n"
                                << table;
    const size_t last = cells.size() - 1;
    EXPECT_EQ(cells[last], "ok") << table;
    EXPECT_EQ(cells[last - 1], c.vs) << c.op << "/" << c.impl << " " << c.dtype << " N=" << c.n
                                     << "\n" << table;
    EXPECT_EQ(cells[last - 3], c.gbytes) << c.impl << " " << c.dtype << " N=" << c.n;
    EXPECT_EQ(cells[last - 4], c.gflops) << c.impl << " " << c.dtype << " N=" << c.n;
  }
}

TEST(AggregateTable, AnOpThisBuildDoesNotKnowHasNoBaseline) {
  const std::string table = AggregateTable(
      {Make("a:1", "matvec", "gemm", -1, 10, 2e-6), Make("a:1", "newop", "x", -1, 10, 1e-6)},
      {"a:1"});
  EXPECT_TRUE(absl::StrContains(Row(table, "newop", "x"), " - ")) << table;
  EXPECT_TRUE(absl::StrContains(Row(table, "matvec", "gemm"), "1.00x")) << table;
}

TEST(JsonLines, RoundTripKeepsEveryField) {
  v1::Result r = Make("h:5", "outer", "fused", 1, 123, 2e-6);
  r.add_sample_seconds(1e-6);
  r.add_warnings("clock dropped");
  r.set_stop_reason("noise_target_met");
  const std::string line = ToJsonLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(absl::StrContains(line, "\"host_address\":\"h:5\"")) << line;
  absl::StatusOr<v1::Result> back = FromJsonLine(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), r.SerializeAsString());
  EXPECT_FALSE(FromJsonLine("{not json").ok());
}

TEST(Csv, QuotesFieldsWithCommas) {
  v1::Result r = Make("h:5", "matvec", "gemv", -1, 8, 1e-6);
  r.add_warnings("a, b");
  const std::string row = ToCsvRow(r);
  EXPECT_TRUE(absl::StrContains(row, "\"a, b\"")) << row;
  const std::string header = CsvHeader();
  EXPECT_EQ(std::count(header.begin(), header.end(), ','),
            std::count(row.begin(), row.end(), ',') - 1);  // one comma inside quotes
}

TEST(WithDefaultPort, AddsThePortOnlyWhenMissing) {
  EXPECT_EQ(WithDefaultPort("gpu01"), "gpu01:50051");
  EXPECT_EQ(WithDefaultPort("gpu01:7000"), "gpu01:7000");
  EXPECT_EQ(WithDefaultPort("[::1]"), "[::1]:50051");
  EXPECT_EQ(WithDefaultPort("[::1]:9"), "[::1]:9");
}

TEST(AggregateTable, FooterTakesFormulasAndBaselineFromTheCatalog) {
  const std::string table =
      AggregateTable({Make("h:1", "matvec", "gemm", -1, 100, 1e-3),
                      Make("h:1", "outer", "fused", 0, 100, 1e-4)},
                     {"h:1"});
  EXPECT_TRUE(absl::StrContains(table, ". FLOPs = 2N^2 - N for matvec and outer;")) << table;
  EXPECT_TRUE(absl::StrContains(
      table, "vs matvec = time / time of matvec/gemm (torch.mm's way, the seed's reference) at "
             "the same N and dtype."))
      << table;
  // An op this build does not know gets no formula invented for it.
  const std::string unknown = AggregateTable({Make("h:1", "conv", "x", -1, 100, 1e-3)}, {"h:1"});
  EXPECT_TRUE(absl::StrContains(unknown, "FLOPs as the daemon's catalog states them")) << unknown;
  EXPECT_FALSE(absl::StrContains(unknown, "2N^2")) << unknown;
}

}  // namespace
}  // namespace flopd
