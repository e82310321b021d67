// The results-file reader of flopctl (client/result_format.h ReadResultsFile:
// JSON Lines of flopd.v1.Result through protobuf's JSON mapping; it is the
// only results-file reader flopctl has) and what `flopctl plot`, `report` and
// `compare` do with what it reads: the SVG charts, the HTML report, the
// aggregated table, the CSV/JSON writers, and the compare command itself.
//
// Input: the bytes of file A; if they hold a form feed (\f), A is what comes
// before it and file B what comes after (for compare), else B = A. The files
// are memfds, read by path (/proc/self/fd/N) as flopctl reads a file.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/commands.h"
#include "client/plot_svg.h"
#include "client/report_html.h"
#include "client/result_format.h"
#include "proto/wire/wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// A memfd holding `bytes`, named by a path any open() can read.
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(memfd_create(name, 0)) {
    FUZZ_CHECK(fd_ >= 0);
    path_ = absl::StrCat("/proc/self/fd/", fd_);
  }
  const std::string& Fill(absl::string_view bytes) {
    FUZZ_CHECK(ftruncate(fd_, 0) == 0);
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done, done);
      FUZZ_CHECK(n > 0);
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

bool HasScript(const std::string& text) {
  return absl::StrContains(absl::AsciiStrToLower(text), "<script");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flopd;
  static MemFile* const file_a = new MemFile("fuzz-a.jsonl");
  static MemFile* const file_b = new MemFile("fuzz-b.jsonl");
  // compare prints its table; flopctl's messages go to std::cerr. Neither is
  // wanted here (libFuzzer itself writes to fd 2, not through std::cerr).
  static std::ostringstream* const sink = [] {
    auto* s = new std::ostringstream;
    std::cout.rdbuf(s->rdbuf());
    std::cerr.rdbuf(s->rdbuf());
    return s;
  }();

  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\f');
  const absl::string_view a = split == absl::string_view::npos ? input : input.substr(0, split);
  const absl::string_view b = split == absl::string_view::npos ? input : input.substr(split + 1);
  const std::string path_a = file_a->Fill(a);
  const std::string path_b = file_b->Fill(b);

  const absl::StatusOr<std::vector<v1::Result>> results = ReadResultsFile(path_a);
  if (results.ok()) {
    std::vector<std::string> hosts;
    for (const v1::Result& r : *results) {
      FUZZ_CHECK(!r.op().empty() && r.n() > 0);
      const std::string host = ResultHost(r);
      if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
      (void)ResultLine(r);
      (void)ToCsvRow(r);
      FUZZ_CHECK(FromJsonLine(ToJsonLine(r)).ok());
    }
    (void)AggregateTable(*results, hosts);
    (void)ToJsonArray(*results);
    // plot and report: every text from the results is escaped.
    const std::string svg = PlotSvg(*results, PlotKind::kAll);
    FUZZ_CHECK(absl::StartsWith(svg, "<?xml"));
    FUZZ_CHECK(!HasScript(svg));
    const std::string html = ReportHtml(*results, {path_a});
    FUZZ_CHECK(!HasScript(html));
  } else {
    FUZZ_CHECK(results.status().code() == absl::StatusCode::kInvalidArgument);
  }

  // compare, as `flopctl compare A B` and `--by-host` run it.
  const int plain = CompareCommand({path_a, path_b});
  FUZZ_CHECK(plain >= 0 && plain <= 2);
  const int by_host = CompareCommand({path_a, path_b, "--by-host", "--fail-on-slower"});
  FUZZ_CHECK(by_host >= 0 && by_host <= 2);
  sink->str(std::string());
  return 0;
}
