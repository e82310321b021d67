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

#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/output_file.h"
#include "client/result_files.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

class ResultSink {
 public:
  virtual ~ResultSink() = default;

  virtual void Begin() {}
  virtual void Add(const v1::Result& result) = 0;
  virtual void End() {}
};

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

// How OpenResultFile writes.
struct ResultFileOptions {
  // Add to an existing file instead of replacing it: JSON Lines and CSV
  // records follow its own (a CSV file's header must be this flopctl's); a
  // JSON array is rewritten with its results first. The file must hold
  // results in the format its name asks for.
  bool append = false;
  // The format of "-", which has no name to ask by (a table is not a
  // results format: JSON Lines then).
  ResultFormat stdout_format = ResultFormat::kJsonl;
  std::ostream* stdout_stream = &std::cout;  // where "-" writes
};

// The results file of a command's --out: a sink writing, in the format the
// file's name asks for (ResultFormatForPath), to a temporary file beside
// PATH (client/output_file.h) that replaces PATH only when the command ends
// it. PATH itself is not touched before then, so an existing file survives
// a run that fails, and a run that is interrupted still ends its file: End()
// writes what arrived as a whole document (a JSON array of the results so
// far; the CSV and JSON Lines records are already written) and renames it
// over PATH. A file neither ended nor discarded is discarded when destroyed.
//
// PATH "-" is standard output: records go there as they arrive, in
// options.stdout_format.
class ResultFile : public ResultSink {
 public:
  // Use OpenResultFile. `file` null: standard output, `stdout_stream`.
  ResultFile(std::unique_ptr<ReplacingFile> file, ResultFormat format,
             std::ostream* stdout_stream = nullptr);

  void Begin() override;
  void Add(const v1::Result& result) override;
  // Ends the document and renames the temporary file over PATH.
  void End() override;

  const std::string& path() const;
  // Results added so far (not counting those an appended file held).
  int64_t count() const { return count_; }
  // The status of End(): FAILED_PRECONDITION "cannot write 'PATH'" when the
  // file could not be written or renamed (PATH is then as it was).
  const absl::Status& status() const { return status_; }
  // Removes the temporary file instead; PATH is left as it was.
  void Discard();

  // Ends the file as its command ends: when the command failed and no
  // result arrived, Discard() (PATH is left as it was, or not created),
  // else End(). Returns the line flopctl prints about it (without
  // "flopctl: "): "wrote N results to PATH", followed by " (after its K
  // earlier results)" when appending, or " (replaced the file, which held K
  // results; --append adds instead)" when an existing file was replaced;
  // "wrote N results to stdout" for "-"; "--out: no results arrived; PATH
  // was left as it was" (or "...; PATH was not created"), or "--out: cannot
  // write 'PATH'".
  std::string Close(bool command_failed);

 private:
  friend absl::StatusOr<std::unique_ptr<ResultFile>> OpenResultFile(
      const std::string& path, const ResultFileOptions& options);

  std::unique_ptr<ReplacingFile> file_;  // null: standard output
  std::ostream* out_;                    // file_'s stream or standard output
  std::unique_ptr<ResultSink> inner_;    // writes out_
  int64_t count_ = 0;
  absl::Status status_;
  bool ended_ = false;  // End() or Discard() done
  // Appending: the results the file held (JSON: written again before the
  // new ones); CSV: its header is not written again.
  std::vector<v1::Result> earlier_;
  int64_t earlier_count_ = 0;  // results the appended file held
  bool appending_ = false;
  // Replacing an existing file: what it held ("" when it did not exist or
  // was empty).
  std::string replaced_;
};

// Opens the --out file `path` (see ResultFile). On failure, INVALID_ARGUMENT
// and nothing is created: "cannot write 'PATH'", or with options.append
// "cannot append to 'PATH': ..." (it holds something else, or CSV columns
// of another flopctl version).
absl::StatusOr<std::unique_ptr<ResultFile>> OpenResultFile(const std::string& path,
                                                           const ResultFileOptions& options = {});

}  // namespace flopd

#endif  // FLOPD_CLIENT_RESULT_SINK_H_
