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
#include "client/output_file.h"
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

// The results file of a command's --out: a sink writing, in the format the
// file's name asks for (ResultFormatForPath), to a temporary file beside
// PATH (client/output_file.h) that replaces PATH only when the command ends
// it. PATH itself is not touched before then, so an existing file survives
// a run that fails, and a run that is interrupted still ends its file: End()
// writes what arrived as a whole document (a JSON array of the results so
// far; the CSV and JSON Lines records are already written) and renames it
// over PATH. A file neither ended nor discarded is discarded when destroyed.
class ResultFile : public ResultSink {
 public:
  // Use OpenResultFile.
  ResultFile(std::unique_ptr<ReplacingFile> file, ResultFormat format);

  void Begin() override;
  void Add(const v1::Result& result) override;
  // Ends the document and renames the temporary file over PATH.
  void End() override;

  const std::string& path() const { return file_->path(); }
  // Results added so far.
  int64_t count() const { return count_; }
  // The status of End(): FAILED_PRECONDITION "cannot write 'PATH'" when the
  // file could not be written or renamed (PATH is then as it was).
  const absl::Status& status() const { return status_; }
  // Removes the temporary file instead; PATH is left as it was.
  void Discard();

  // Ends the file as its command ends: when the command failed and no
  // result arrived, Discard() (PATH is left as it was, or not created),
  // else End(). Returns the line flopctl prints about it (without
  // "flopctl: "): "wrote N results to PATH", "--out: no results arrived;
  // PATH was left as it was" (or "...; PATH was not created"), or "--out:
  // cannot write 'PATH'".
  std::string Close(bool command_failed);

 private:
  std::unique_ptr<ReplacingFile> file_;
  std::unique_ptr<ResultSink> inner_;  // writes file_'s stream
  int64_t count_ = 0;
  absl::Status status_;
  bool ended_ = false;  // End() or Discard() done
};

// Opens the --out file `path` (see ResultFile). On failure, INVALID_ARGUMENT
// "cannot write 'PATH'" and nothing is created.
absl::StatusOr<std::unique_ptr<ResultFile>> OpenResultFile(const std::string& path);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RESULT_SINK_H_
