#include "client/result_sink.h"

#include <fstream>
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

// Owns the file its inner sink writes to.
class FileSink : public ResultSink {
 public:
  explicit FileSink(std::unique_ptr<std::ofstream> file, ResultFormat format)
      : file_(std::move(file)), inner_(NewResultSink(format, file_.get())) {}

  void Begin() override { inner_->Begin(); }
  void Add(const v1::Result& result) override { inner_->Add(result); }
  void End() override {
    inner_->End();
    file_->close();
  }

 private:
  std::unique_ptr<std::ofstream> file_;
  std::unique_ptr<ResultSink> inner_;
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

absl::StatusOr<std::unique_ptr<ResultSink>> OpenResultFile(const std::string& path) {
  auto file = std::make_unique<std::ofstream>(path, std::ios::trunc);
  if (!*file) return absl::InvalidArgumentError(absl::StrCat("cannot write '", path, "'"));
  return std::make_unique<FileSink>(std::move(file), ResultFormatForPath(path));
}

}  // namespace flopd
