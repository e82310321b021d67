#include "client/output_file.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace flopd {

absl::Status WriteTextFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::FailedPreconditionError(absl::StrCat("cannot write '", path, "'"));
  return absl::OkStatus();
}

absl::Status WritePlotFile(const std::vector<v1::Result>& results, const std::string& path,
                           PlotKind kind) {
  return WriteTextFile(path, PlotSvg(results, kind));
}

}  // namespace flopd
