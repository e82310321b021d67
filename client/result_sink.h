// Where results go: one interface, one implementation per output format
// (google/benchmark's reporters). `flopctl run` streams every result into a
// file sink as it arrives (--out) and feeds the same results, at the end,
// into the sink of --format on stdout. The text of each format is the one
// result_format.h defines, so a file and stdout never disagree.
//
// Call order: Begin() once, Add() per result, End() once; nothing is written
// after End(). Streaming formats (CSV, JSON Lines) write and flush each
// record in Add(), so a reader following the file sees whole lines only;
// whole-document formats (table, JSON) buffer and write in End().
//
// Thread-compatible: a sink is not locked; callers that Add() from several
// threads serialize the calls.
#ifndef FLOPD_CLIENT_RESULT_SINK_H_
#define FLOPD_CLIENT_RESULT_SINK_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

class ResultSink {
 public:
  virtual ~ResultSink() = default;

  virtual void Begin() {}
  virtual void Add(const v1::Result& result) = 0;
  virtual void End() {}
};

enum class ResultFormat { kTable, kCsv, kJson, kJsonl };

// "table" | "csv" | "json" | "jsonl"; INVALID_ARGUMENT "format: unknown
// format 'x'; allowed: table, csv, json, jsonl" otherwise.
absl::StatusOr<ResultFormat> ParseResultFormat(absl::string_view name);

// The format a results file's name asks for: .csv, .json, else JSON Lines.
ResultFormat ResultFormatForPath(absl::string_view path);

// A sink writing `format` to `out` (not owned; must outlive the sink).
// `host_order` orders the table's host columns (AggregateTable); the other
// formats ignore it.
std::unique_ptr<ResultSink> NewResultSink(ResultFormat format, std::ostream* out,
                                          std::vector<std::string> host_order = {});

// A sink writing to the file `path` (truncated now) in the format its name
// asks for (ResultFormatForPath). The file is closed by End(). On failure,
// INVALID_ARGUMENT "cannot write 'PATH'" and nothing is created.
absl::StatusOr<std::unique_ptr<ResultSink>> OpenResultFile(const std::string& path);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RESULT_SINK_H_
