#include "client/result_sink.h"

#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/result_format.h"

namespace flopd {
namespace {

class TableSink : public ResultSink {
 public:
  TableSink(std::ostream* out, std::vector<std::string> host_order)
      : out_(out), host_order_(std::move(host_order)) {}

  void Add(const v1::Result& result) override { results_.push_back(result); }
  void End() override { *out_ << AggregateTable(results_, host_order_) << std::flush; }

 private:
  std::ostream* out_;
  const std::vector<std::string> host_order_;
  std::vector<v1::Result> results_;
};

class CsvSink : public ResultSink {
 public:
  explicit CsvSink(std::ostream* out) : out_(out) {}

  void Begin() override { *out_ << CsvHeader() << "\n" << std::flush; }
  void Add(const v1::Result& result) override { *out_ << ToCsvRow(result) << "\n" << std::flush; }

 private:
  std::ostream* out_;
};

class JsonSink : public ResultSink {
 public:
  explicit JsonSink(std::ostream* out) : out_(out) {}

  void Add(const v1::Result& result) override { results_.push_back(result); }
  void End() override { *out_ << ToJsonArray(results_) << std::flush; }

 private:
  std::ostream* out_;
  std::vector<v1::Result> results_;
};

class JsonlSink : public ResultSink {
 public:
  explicit JsonlSink(std::ostream* out) : out_(out) {}

  void Add(const v1::Result& result) override {
    *out_ << ToJsonLine(result) << "\n" << std::flush;
  }

 private:
  std::ostream* out_;
};

}  // namespace

absl::StatusOr<ResultFormat> ParseResultFormat(absl::string_view name) {
  if (name == "table") return ResultFormat::kTable;
  if (name == "csv") return ResultFormat::kCsv;
  if (name == "json") return ResultFormat::kJson;
  if (name == "jsonl") return ResultFormat::kJsonl;
  return absl::InvalidArgumentError(
      absl::StrCat("format: unknown format '", name, "'; allowed: table, csv, json, jsonl"));
}

ResultFormat ResultFormatForPath(absl::string_view path) {
  if (absl::EndsWith(path, ".csv")) return ResultFormat::kCsv;
  if (absl::EndsWith(path, ".json")) return ResultFormat::kJson;
  return ResultFormat::kJsonl;
}

std::unique_ptr<ResultSink> NewResultSink(ResultFormat format, std::ostream* out,
                                          std::vector<std::string> host_order) {
  switch (format) {
    case ResultFormat::kTable:
      return std::make_unique<TableSink>(out, std::move(host_order));
    case ResultFormat::kCsv:
      return std::make_unique<CsvSink>(out);
    case ResultFormat::kJson:
      return std::make_unique<JsonSink>(out);
    case ResultFormat::kJsonl:
      break;
  }
  return std::make_unique<JsonlSink>(out);
}

ResultFile::ResultFile(std::unique_ptr<ReplacingFile> file, ResultFormat format,
                       std::ostream* stdout_stream)
    : file_(std::move(file)),
      out_(file_ ? &file_->stream() : stdout_stream),
      inner_(NewResultSink(format, out_)) {}

const std::string& ResultFile::path() const {
  static const std::string* const kStdout = new std::string("-");
  return file_ ? file_->path() : *kStdout;
}

void ResultFile::Begin() {
  const bool csv_header_there = appending_ && dynamic_cast<CsvSink*>(inner_.get()) != nullptr;
  if (!csv_header_there) inner_->Begin();
  for (const v1::Result& r : earlier_) inner_->Add(r);
}

void ResultFile::Add(const v1::Result& result) {
  inner_->Add(result);
  ++count_;
}

void ResultFile::End() {
  if (ended_) return;
  ended_ = true;
  inner_->End();
  if (file_) {
    status_ = file_->Commit();
  } else {
    *out_ << std::flush;
    if (!*out_) status_ = absl::FailedPreconditionError("cannot write to stdout");
  }
}

void ResultFile::Discard() {
  if (ended_) return;
  ended_ = true;
  if (file_) file_->Discard();
}

std::string ResultFile::Close(bool command_failed) {
  if (!file_) {
    End();
    if (!status_.ok()) return absl::StrCat("--out: ", status_.message());
    if (command_failed && count_ == 0) return "--out -: no results arrived";
    return absl::StrCat("wrote ", count_, " results to stdout");
  }
  if (command_failed && count_ == 0) {
    struct stat info;
    const bool existed = stat(path().c_str(), &info) == 0;
    Discard();
    return absl::StrCat("--out: no results arrived; ", path(),
                        existed ? " was left as it was" : " was not created");
  }
  End();
  if (!status_.ok()) return absl::StrCat("--out: ", status_.message());
  std::string said = absl::StrCat("wrote ", count_, " results to ", path());
  if (appending_) {
    absl::StrAppend(&said, " (after its ", earlier_count_, " earlier results)");
  } else if (!replaced_.empty()) {
    absl::StrAppend(&said, " (replaced the file, which held ", replaced_,
                    "; --append adds instead)");
  }
  return said;
}

absl::StatusOr<std::unique_ptr<ResultFile>> OpenResultFile(const std::string& path,
                                                           const ResultFileOptions& options) {
  if (path == "-") {
    const ResultFormat format = options.stdout_format == ResultFormat::kTable
                                    ? ResultFormat::kJsonl
                                    : options.stdout_format;
    return std::make_unique<ResultFile>(nullptr, format, options.stdout_stream);
  }
  const ResultFormat format = ResultFormatForPath(path);
  // What the file holds now: appended to, or named when it is replaced.
  std::string old_text;
  bool existed = false;
  {
    struct stat info;
    if (stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
      std::ifstream in(path, std::ios::binary);
      if (in) {
        existed = true;
        std::ostringstream bytes;
        bytes << in.rdbuf();
        old_text = bytes.str();
      }
    }
  }
  const bool has_content = old_text.find_first_not_of(" \t\r\n") != std::string::npos;
  std::vector<v1::Result> earlier;
  std::string replaced;
  if (has_content) {
    absl::StatusOr<std::vector<v1::Result>> held = ParseResults(old_text, path);
    const std::optional<ResultFormat> held_format = DetectResultFormat(old_text, path);
    if (options.append) {
      const auto cannot = [&path](absl::string_view why) {
        return absl::InvalidArgumentError(absl::StrCat("cannot append to '", path, "': ", why));
      };
      if (!held.ok()) return cannot(held.status().message());
      if (held_format != format) {
        return cannot(absl::StrCat("it holds ", ResultFormatName(*held_format), ", not the ",
                                   ResultFormatName(format), " its name asks for"));
      }
      if (format == ResultFormat::kCsv &&
          absl::StripSuffix(old_text.substr(0, old_text.find('\n')), "\r") != CsvHeader()) {
        return cannot(
            "its CSV columns are not this flopctl's (another version wrote it); write to a new "
            "file");
      }
      earlier = *std::move(held);
    } else {
      replaced = held.ok() ? absl::StrCat(held->size(), " results") : "no flopd results";
    }
  } else if (existed && !options.append && !old_text.empty()) {
    replaced = "no flopd results";
  }
  absl::StatusOr<std::unique_ptr<ReplacingFile>> file = ReplacingFile::Create(path);
  if (!file.ok()) return absl::InvalidArgumentError(file.status().message());
  auto result_file = std::make_unique<ResultFile>(*std::move(file), format);
  result_file->replaced_ = std::move(replaced);
  if (options.append && has_content) {
    result_file->appending_ = true;
    result_file->earlier_count_ = static_cast<int64_t>(earlier.size());
    if (format == ResultFormat::kJson) {
      result_file->earlier_ = std::move(earlier);
    } else {
      // The records as they were, byte for byte, ending in a line break.
      std::ostream& out = result_file->file_->stream();
      out << old_text;
      if (old_text.back() != '\n') out << '\n';
    }
  }
  return result_file;
}

}  // namespace flopd
