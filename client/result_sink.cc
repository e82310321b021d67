#include "client/result_sink.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

ResultFile::ResultFile(std::unique_ptr<ReplacingFile> file, ResultFormat format)
    : file_(std::move(file)), inner_(NewResultSink(format, &file_->stream())) {}

void ResultFile::Begin() { inner_->Begin(); }

void ResultFile::Add(const v1::Result& result) {
  inner_->Add(result);
  ++count_;
}

void ResultFile::End() {
  if (ended_) return;
  ended_ = true;
  inner_->End();
  status_ = file_->Commit();
}

void ResultFile::Discard() {
  if (ended_) return;
  ended_ = true;
  file_->Discard();
}

std::string ResultFile::Close(bool command_failed) {
  if (command_failed && count_ == 0) {
    struct stat info;
    const bool existed = stat(path().c_str(), &info) == 0;
    Discard();
    return absl::StrCat("--out: no results arrived; ", path(),
                        existed ? " was left as it was" : " was not created");
  }
  End();
  if (!status_.ok()) return absl::StrCat("--out: ", status_.message());
  return absl::StrCat("wrote ", count_, " results to ", path());
}

absl::StatusOr<std::unique_ptr<ResultFile>> OpenResultFile(const std::string& path) {
  absl::StatusOr<std::unique_ptr<ReplacingFile>> file = ReplacingFile::Create(path);
  if (!file.ok()) return absl::InvalidArgumentError(file.status().message());
  return std::make_unique<ResultFile>(*std::move(file), ResultFormatForPath(path));
}

}  // namespace flopd
