// Files flopctl writes: the results of `run`, `history` and `watch --out`,
// the SVG of `run --plot` and `plot`, the HTML of `report`. One place
// opens, writes and checks them, so every command reports an unwritable
// path the same way, and none ever destroys data: bytes go to a temporary
// file beside the target, which replaces the target only when it is
// complete (an atomic rename), so an existing file is either left as it was
// or replaced by a whole new one. Missing parent directories of the target
// are created.
//
// Thread-safe: free functions; concurrent calls must name different paths.
// A ReplacingFile is thread-compatible.
#ifndef FLOPD_CLIENT_OUTPUT_FILE_H_
#define FLOPD_CLIENT_OUTPUT_FILE_H_

#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/plot_svg.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

// A file that takes the place of `path` once complete. What is written to
// stream() goes to a temporary file in the same directory (".NAME.tmp-XXXXXX",
// with the mode `path` has, or would get when created); Commit() renames it
// over `path` (through a symbolic link, onto the file it names); Discard(),
// or destruction without Commit(), removes it and leaves `path` as it was.
class ReplacingFile {
 public:
  // FAILED_PRECONDITION "cannot write 'PATH'" when `path` is a directory,
  // an existing file this user may not write, or in a directory where the
  // temporary file cannot be created. Nothing is left behind then.
  static absl::StatusOr<std::unique_ptr<ReplacingFile>> Create(const std::string& path);
  ~ReplacingFile();

  ReplacingFile(const ReplacingFile&) = delete;
  ReplacingFile& operator=(const ReplacingFile&) = delete;

  std::ostream& stream() { return stream_; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  // Closes the temporary file and renames it over `path`. FAILED_PRECONDITION
  // "cannot write 'PATH'" (and the temporary file removed, `path` as it was)
  // when a write or the rename failed. Once only.
  absl::Status Commit();
  // Closes and removes the temporary file; `path` is left as it was.
  void Discard();

 private:
  ReplacingFile(std::string path, std::string target, std::string temp_path);

  const std::string path_;       // as given
  const std::string target_;     // what the rename replaces: `path`, or the file its link names
  const std::string temp_path_;  // beside target_
  std::ofstream stream_;
  bool done_ = false;  // committed or discarded
};

// Replaces the file `path` with `text` (bytes as given), as ReplacingFile
// does. FAILED_PRECONDITION "cannot write 'PATH'" when it cannot be written;
// `path` is then as it was.
absl::Status WriteTextFile(const std::string& path, absl::string_view text);

// Draws `results` as PlotSvg(results, kind) does and writes the SVG to
// `path`; fails as WriteTextFile does.
absl::Status WritePlotFile(const std::vector<v1::Result>& results, const std::string& path,
                           PlotKind kind);

// Whether `path` could be replaced now (ReplacingFile::Create, then Discard):
// for a command that writes its file only at its end, to refuse a bad path
// before it dials. Fails as Create does, but creates no directory: a path
// whose parent is missing passes when the nearest existing ancestor is a
// directory this user may write.
absl::Status CheckReplaceable(const std::string& path);

}  // namespace flopd

#endif  // FLOPD_CLIENT_OUTPUT_FILE_H_
