// The results files of issue 11: every format flopctl writes reads back with
// the one reader, the JSON is for data tools (numbers, no Infinity), the CSV
// carries every field.
#include "client/result_files.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/result_sink.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Every field of `m` set to a value other than its default, nested messages
// and maps included: a Result a file must carry whole. `seed` varies it.
void FillEveryField(Message* m, int seed) {
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const int k = seed * 100 + f->number();
    if (f->is_map()) {
      // One entry, into the map through the wire format: reflection on a map
      // field (AddMessage) crashes a TSan build against Debian's libprotobuf
      // (client/result_files.cc says why).
      std::unique_ptr<Message> entry(
          r->GetMessageFactory()->GetPrototype(f->message_type())->New());
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      entry->GetReflection()->SetString(entry.get(), key, absl::StrCat("key", k));
      if (value->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
        entry->GetReflection()->SetInt64(entry.get(), value, k);
      } else {
        entry->GetReflection()->SetString(entry.get(), value,
                                          absl::StrCat("value \"", k, "\", ok"));
      }
      google::protobuf::UnknownFieldSet wire;
      entry->SerializeToString(wire.AddLengthDelimited(f->number()));
      std::string bytes;
      wire.SerializeToString(&bytes);
      EXPECT_TRUE(m->MergeFromString(bytes)) << f->full_name();
      continue;
    }
    const int copies = f->is_repeated() ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(m, f, k + c) : r->SetInt32(m, f, k);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(m, f, k + c) : r->SetInt64(m, f, 1000003 * k);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(m, f, 1.0 / (k + c)) : r->SetDouble(m, f, 1.0 / k);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          r->SetBool(m, f, true);
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          f->is_repeated() ? r->AddString(m, f, absl::StrCat("text, \"", k, "\" ", c))
                           : r->SetString(m, f, absl::StrCat("text ", k, ", \"quoted\""));
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          FillEveryField(r->MutableMessage(m, f), seed);
          break;
        default:
          ADD_FAILURE() << "a field type this test does not fill: " << f->full_name();
      }
    }
  }
}

// A result without commas in its text: its CSV row splits on ','.
v1::Result Simple() {
  v1::Result r;
  r.set_host_address("h:1");
  r.set_device("cpu:0");
  r.set_op("matvec");
  r.set_impl("gemv");
  r.set_dtype("f32");
  r.set_n(64);
  r.set_flops(8128);
  r.set_samples(10);
  r.mutable_time()->set_median(1e-6);
  r.mutable_verification()->set_passed(true);
  return r;
}

// The cell of `column` in the CSV row of `r`.
std::string Cell(const v1::Result& r, const std::string& column) {
  const std::vector<std::string> titles = absl::StrSplit(CsvHeader(), ',');
  const std::vector<std::string> cells = absl::StrSplit(ToCsvRow(r), ',');
  EXPECT_EQ(titles.size(), cells.size());
  for (size_t i = 0; i < titles.size() && i < cells.size(); ++i) {
    if (titles[i] == column) return cells[i];
  }
  ADD_FAILURE() << "no column " << column;
  return "";
}

v1::Result Full(int seed) {
  v1::Result r;
  FillEveryField(&r, seed);
  r.set_op("newop");  // not in the catalog: its params are written as given
  r.set_dtype("f32");
  r.set_n(4096 + seed);
  return r;
}

std::string Written(ResultFormat format, const std::vector<v1::Result>& results) {
  std::ostringstream out;
  std::unique_ptr<ResultSink> sink = NewResultSink(format, &out);
  sink->Begin();
  for (const v1::Result& r : results) sink->Add(r);
  sink->End();
  return out.str();
}

// `m` in the wire format, map entries in key order: equal bytes, equal
// messages. (Not MessageDifferencer: it reflects over the map fields, which
// crashes a TSan build; client/result_files.cc says why.)
std::string DeterministicBytes(const Message& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    m.SerializePartialToCodedStream(&out);
  }
  return bytes;
}

// protobuf's JSON of `m`, to show a difference.
std::string Shown(const Message& m) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(m, &json);
  return json;
}

void ExpectSame(const std::vector<v1::Result>& got, const std::vector<v1::Result>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(DeterministicBytes(got[i]), DeterministicBytes(want[i]))
        << what << " result " << i << ":\nwant " << Shown(want[i]) << "\ngot  " << Shown(got[i]);
  }
}

// `plot`, `report` and `compare` said "not a flopd result" for the .json and
// .csv files `run --out` writes; every format reads back whole now.
TEST(ResultFiles, EveryFormatTheWritersWriteReadsBackWithEveryField) {
  const std::vector<v1::Result> results = {Full(1), Full(2)};
  for (ResultFormat format : {ResultFormat::kJsonl, ResultFormat::kJson, ResultFormat::kCsv}) {
    const std::string name = absl::StrCat("r.", ResultFormatName(format));
    absl::StatusOr<std::vector<v1::Result>> back =
        ParseResults(Written(format, results), name);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status();
    ExpectSame(*back, results, name);
    // By content alone, whatever the file is called.
    absl::StatusOr<std::vector<v1::Result>> unnamed =
        ParseResults(Written(format, results), "results");
    ASSERT_TRUE(unnamed.ok()) << name << ": " << unnamed.status();
    EXPECT_EQ(unnamed->size(), 2u);
  }
}

TEST(ResultFiles, NonFiniteFiguresSurviveEveryFormat) {
  v1::Result r = Full(3);
  r.set_samples(1);
  r.set_relative_noise(kInf);
  r.mutable_verification()->set_max_rel_error(kInf);
  for (ResultFormat format : {ResultFormat::kJsonl, ResultFormat::kJson, ResultFormat::kCsv}) {
    absl::StatusOr<std::vector<v1::Result>> back = ParseResults(Written(format, {r}), "r");
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), 1u);
    EXPECT_EQ((*back)[0].relative_noise(), kInf) << ResultFormatName(format);
    EXPECT_EQ((*back)[0].verification().max_rel_error(), kInf) << ResultFormatName(format);
  }
}

// The fuzz corpus's minimal result has no verification and no roofline: the
// CSV leaves their cells empty, and reading them creates neither.
TEST(ResultFiles, AResultWithoutVerificationOrRooflineReadsBackWithoutThem) {
  v1::Result r;
  r.set_op("matvec");
  r.set_impl("gemv");
  r.set_dtype("f32");
  r.set_n(1000);
  r.mutable_time()->set_median(0.001);
  for (ResultFormat format : {ResultFormat::kJsonl, ResultFormat::kJson, ResultFormat::kCsv}) {
    absl::StatusOr<std::vector<v1::Result>> back = ParseResults(Written(format, {r}), "r");
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(*back, {r}, std::string(ResultFormatName(format)));
    EXPECT_FALSE((*back)[0].has_verification()) << ResultFormatName(format);
    EXPECT_FALSE((*back)[0].has_roofline()) << ResultFormatName(format);
  }
}

// pandas read int64 fields as strings ("N as a string sorts wrongly") and
// choked on Infinity.
TEST(ResultFiles, JsonHasNumbersAndNoInfinityAndSaysWhyANoiseFigureIsMissing) {
  v1::Result r = Full(1);
  r.set_n(4096);
  r.set_flops(33550336);
  r.set_samples(1);
  r.set_relative_noise(kInf);
  r.mutable_verification()->set_max_rel_error(std::nan(""));
  const std::string line = ToJsonLine(r);
  EXPECT_TRUE(absl::StrContains(line, "\"n\":4096,")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"flops\":33550336,")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"params\":{\"key109\":109}")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"relative_noise\":null,\"relative_noise_note\":\"no noise "
                                      "figure: fewer than 3 samples\""))
      << line;
  EXPECT_TRUE(absl::StrContains(line, "\"max_rel_error\":null")) << line;
  EXPECT_FALSE(absl::StrContains(line, "Infinity")) << line;
  EXPECT_FALSE(absl::StrContains(line, "NaN")) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  // A finite figure has no note.
  r.set_relative_noise(0.01);
  EXPECT_FALSE(absl::StrContains(ToJsonLine(r), "relative_noise_note")) << ToJsonLine(r);
  // The CSV says the same in its own column, the figure's cell empty.
  v1::Result simple = Simple();
  simple.set_samples(1);
  simple.set_relative_noise(kInf);
  EXPECT_EQ(Cell(simple, "relative_noise"), "");
  EXPECT_EQ(Cell(simple, "relative_noise_note"), "no noise figure: fewer than 3 samples");
  EXPECT_EQ(Cell(simple, "n"), "64");
  simple.set_relative_noise(0.0125);
  EXPECT_EQ(Cell(simple, "relative_noise"), "0.0125");
  EXPECT_EQ(Cell(simple, "relative_noise_note"), "");
}

// Beyond 2^53 a double cannot hold an int64: such a value stays a string, and
// reads back exactly.
TEST(ResultFiles, AnInt64BeyondTwoToThe53StaysAStringAndExact) {
  v1::Result r = Full(1);
  r.set_flops(std::numeric_limits<int64_t>::max());
  const std::string line = ToJsonLine(r);
  EXPECT_TRUE(absl::StrContains(line, "\"flops\":\"9223372036854775807\"")) << line;
  absl::StatusOr<v1::Result> back = FromJsonLine(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->flops(), std::numeric_limits<int64_t>::max());
}

// Files of earlier flopctl versions: protobuf's JSON printer (int64 as
// strings, "Infinity"), and CSV with its 40 columns and "inf".
TEST(ResultFiles, ReadsTheOlderSpellings) {
  v1::Result r = Full(1);
  r.set_relative_noise(kInf);
  const std::string old_line = ToJson(r);  // proto/wire: protobuf's printer
  ASSERT_TRUE(absl::StrContains(old_line, "\"n\":\"4097\"")) << old_line;
  ASSERT_TRUE(absl::StrContains(old_line, "\"Infinity\"")) << old_line;
  absl::StatusOr<std::vector<v1::Result>> back = ParseResults(old_line + "\n", "old.jsonl");
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, {r}, "protobuf's JSON");
  // lowerCamel keys, as protobuf's printer writes without proto names.
  absl::StatusOr<v1::Result> camel = FromJsonLine(
      "{\"op\":\"matvec\",\"n\":\"64\",\"hostLabel\":\"gpu\",\"time\":{\"median\":1e-6}}");
  ASSERT_TRUE(camel.ok()) << camel.status();
  EXPECT_EQ(camel->host_label(), "gpu");
  EXPECT_EQ(camel->time().median(), 1e-6);

  const std::string old_csv =
      "host_address,hostname,device,device_name,backend,op,impl,params,dtype,n,flops,min_bytes,"
      "timing,samples,iterations_per_sample,median_s,mean_s,min_s,max_s,stddev_s,p05_s,p25_s,"
      "p75_s,p95_s,relative_noise,stop_reason,gflops_per_s,gbytes_per_s,verified,"
      "max_rel_error,threads,library,warnings,intensity,floor_s,efficiency,bound,"
      "peak_flops_per_s,peak_bandwidth_bytes_per_s,host_label\n"
      "h:1,gpu01,cpu:0,EPYC,cpu,outer,fused,axis=1,f32,64,8128,16896,hot,2,100,1.5e-06,1.5e-06,"
      "1e-06,2e-06,1e-07,1e-06,1e-06,2e-06,2e-06,inf,fixed_samples,5.41867,11.264,true,0,2,"
      "OpenBLAS,\"a, b; c\",0.48,1e-07,0.0666667,latency,1e+11,5e+10,\n";
  absl::StatusOr<std::vector<v1::Result>> csv = ParseResults(old_csv, "old.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  ASSERT_EQ(csv->size(), 1u);
  const v1::Result& c = (*csv)[0];
  EXPECT_EQ(c.op(), "outer");
  EXPECT_EQ(c.params().at("axis"), 1);
  EXPECT_EQ(c.n(), 64);
  EXPECT_EQ(c.time().median(), 1.5e-6);
  EXPECT_EQ(c.relative_noise(), kInf);
  EXPECT_TRUE(c.verification().passed());
  EXPECT_EQ(c.warnings_size(), 2);
  EXPECT_EQ(c.roofline().bound(), "latency");
  EXPECT_EQ(c.roofline().peak_flops_per_s(), 1e11);
}

TEST(ResultFiles, CsvHasTheColumnsADataToolWants) {
  v1::Result r = Full(1);
  r.set_measured_unix_ms(1764532800123);  // 2025-11-30T20:00:00.123Z
  const std::vector<std::string> header = absl::StrSplit(CsvHeader(), ',');
  const std::vector<std::string> expected = {"measured_at", "job_id", "run_id", "hostname",
                                             "host_label", "flopd_version", "flopd_build"};
  for (const std::string& column : expected) {
    EXPECT_NE(std::find(header.begin(), header.end(), column), header.end()) << column;
  }
  EXPECT_TRUE(absl::StrContains(ToCsvRow(r), ",2025-11-30T20:00:00.123Z,")) << ToCsvRow(r);
  // The columns of flopctl 1.x keep their places.
  EXPECT_TRUE(absl::StartsWith(CsvHeader(), "host_address,hostname,device,device_name,backend,"
                                            "op,impl,params,dtype,n,flops,"))
      << CsvHeader();
}

TEST(ResultFiles, DetectsTheFormatByContentThenByName) {
  EXPECT_EQ(DetectResultFormat("[\n{}]", "x.csv"), ResultFormat::kJson);
  EXPECT_EQ(DetectResultFormat(" {\"op\":1}\n", "x.json"), ResultFormat::kJsonl);
  EXPECT_EQ(DetectResultFormat("host_address,op,n\n", "x.jsonl"), ResultFormat::kCsv);
  EXPECT_EQ(DetectResultFormat("\"op\",\"n\"\r\n", "x"), ResultFormat::kCsv);
  EXPECT_EQ(DetectResultFormat("garbage", "x.csv"), ResultFormat::kCsv);
  EXPECT_EQ(DetectResultFormat("garbage", "x.jsonl"), ResultFormat::kJsonl);
  EXPECT_EQ(DetectResultFormat("garbage", "x"), std::nullopt);
}

TEST(ResultFiles, BadInputNamesTheFileTheLineAndWhat) {
  const std::string header = CsvHeader() + "\n";
  struct Case {
    std::string text, name, error;
  };
  // A second row whose n is "4k".
  std::string bad_n = header + ToCsvRow(Simple()) + "\n";
  {
    const std::vector<std::string> titles = absl::StrSplit(CsvHeader(), ',');
    std::vector<std::string> cells = absl::StrSplit(ToCsvRow(Simple()), ',');
    cells[std::find(titles.begin(), titles.end(), "n") - titles.begin()] = "4k";
    bad_n += absl::StrJoin(cells, ",") + "\n";
  }
  const std::vector<Case> cases = {
      {bad_n, "f.csv", "f.csv:3: not a flopd result: column n: expected an integer, got '4k'"},
      {header + "a,b\n", "f.csv", "f.csv:2: not a flopd result: 2 fields where the header has"},
      {"x,y\n1,2\n", "f.csv", "f.csv:1: not a flopd result: a CSV header naming the columns op "
                              "and n was expected"},
      {"op,n\n\"open,1\n", "f.csv", "f.csv:2: not a flopd result: a quoted field is never closed"},
      {"op,n\nmatvec,0\n", "f.csv", "f.csv:2: not a flopd result (no op or N)"},
      {"{\"op\":\"matvec\",\"n\":64}\nop,impl,n\n", "f.jsonl", "f.jsonl:2: not a flopd result"},
      {"{\"op\":\"matvec\",\"n\":\"many\"}\n", "f.jsonl",
       "f.jsonl:1: not a flopd result: n: expected an integer, got \"many\""},
      {"{\"op\":\"matvec\",\"n\":64,\"time\":{\"median\":true}}", "f.jsonl",
       "f.jsonl:1: not a flopd result: time.median: expected a number, got true"},
      {"[{\"op\":\"matvec\",\"n\":64},{\"op\":\"matvec\"}]", "f.json",
       "f.json: result 2: not a flopd result (no op or N)"},
      {"[{\"op\":\"matvec\",\"n\":64},", "f.json", "f.json: not a flopd result: not JSON"},
      {"precious\n", "f", "f:1: not a flopd result: neither JSON Lines, a JSON array nor CSV"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<v1::Result>> r = ParseResults(c.text, c.name);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_TRUE(absl::StartsWith(r.status().message(), c.error))
        << r.status().message() << "\nwanted: " << c.error;
  }
  EXPECT_TRUE(ParseResults("", "empty.csv")->empty());
  EXPECT_TRUE(ParseResults("\n\n", "blank.jsonl")->empty());
  EXPECT_TRUE(ParseResults(header, "header-only.csv")->empty());
}

TEST(ResultFiles, TextThatIsNotUtf8IsReplacedSoTheJsonStaysValid) {
  v1::Result r = Full(1);
  r.set_hostname(std::string("gpu\xff\xc3", 5) + "\xc3\xa9");  // two bad bytes, then é
  const std::string line = ToJsonLine(r);
  EXPECT_TRUE(absl::StrContains(line, "\"hostname\":\"gpu\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\""))
      << line;
  absl::StatusOr<v1::Result> back = FromJsonLine(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->hostname(), "gpu\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9");
}

}  // namespace
}  // namespace flopd
