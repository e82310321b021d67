// Files flopctl writes whole at the end of a command: the SVG of `run --plot`
// and `plot`, the HTML of `report`. One place opens, writes and checks them,
// so every command reports an unwritable path the same way.
//
// Thread-safe: free functions; concurrent calls must name different paths.
#ifndef FLOPD_CLIENT_OUTPUT_FILE_H_
#define FLOPD_CLIENT_OUTPUT_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/plot_svg.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

// Replaces the file `path` with `text` (bytes as given). FAILED_PRECONDITION
// "cannot write 'PATH'" when it cannot be opened or written.
absl::Status WriteTextFile(const std::string& path, absl::string_view text);

// Draws `results` as PlotSvg(results, kind) does and writes the SVG to
// `path`; fails as WriteTextFile does.
absl::Status WritePlotFile(const std::vector<v1::Result>& results, const std::string& path,
                           PlotKind kind);

}  // namespace flopd

#endif  // FLOPD_CLIENT_OUTPUT_FILE_H_
