#include "client/output_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace flopd {
namespace {

absl::Status CannotWrite(const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat("cannot write '", path, "'"));
}

}  // namespace

ReplacingFile::ReplacingFile(std::string path, std::string target, std::string temp_path)
    : path_(std::move(path)), target_(std::move(target)), temp_path_(std::move(temp_path)) {}

absl::StatusOr<std::unique_ptr<ReplacingFile>> ReplacingFile::Create(const std::string& path) {
  if (path.empty()) return CannotWrite(path);
  std::string target = path;
  struct stat link_info;
  if (lstat(path.c_str(), &link_info) == 0 && S_ISLNK(link_info.st_mode)) {
    std::error_code error;
    const std::filesystem::path resolved = std::filesystem::canonical(path, error);
    if (!error) target = resolved.string();
  }
  mode_t mode = 0;
  struct stat info;
  if (stat(target.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode) || access(target.c_str(), W_OK) != 0) return CannotWrite(path);
    mode = info.st_mode & 07777;
  } else {
    const mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  const std::filesystem::path target_path(target);
  const std::string dir =
      target_path.has_parent_path() ? target_path.parent_path().string() : std::string(".");
  // Missing parent directories are created (as `mkdir -p` would).
  std::error_code dir_error;
  std::filesystem::create_directories(dir, dir_error);
  std::string temp =
      absl::StrCat(dir, "/.", target_path.filename().string(), ".tmp-XXXXXX");
  const int fd = mkstemp(temp.data());
  if (fd < 0) return CannotWrite(path);
  const bool mode_set = fchmod(fd, mode) == 0;
  close(fd);
  std::unique_ptr<ReplacingFile> file(new ReplacingFile(path, target, temp));
  if (!mode_set) {
    file->Discard();
    return CannotWrite(path);
  }
  file->stream_.open(temp, std::ios::binary | std::ios::trunc);
  if (!file->stream_) {
    file->Discard();
    return CannotWrite(path);
  }
  return file;
}

ReplacingFile::~ReplacingFile() { Discard(); }

absl::Status ReplacingFile::Commit() {
  if (done_) return CannotWrite(path_);
  stream_.close();
  if (!stream_ || std::rename(temp_path_.c_str(), target_.c_str()) != 0) {
    Discard();
    return CannotWrite(path_);
  }
  done_ = true;
  return absl::OkStatus();
}

void ReplacingFile::Discard() {
  if (done_) return;
  done_ = true;
  if (stream_.is_open()) stream_.close();
  std::remove(temp_path_.c_str());
}

absl::Status WriteTextFile(const std::string& path, absl::string_view text) {
  absl::StatusOr<std::unique_ptr<ReplacingFile>> file = ReplacingFile::Create(path);
  if (!file.ok()) return file.status();
  (*file)->stream() << text;
  return (*file)->Commit();
}

absl::Status WritePlotFile(const std::vector<v1::Result>& results, const std::string& path,
                           PlotKind kind) {
  return WriteTextFile(path, PlotSvg(results, kind));
}

absl::Status CheckReplaceable(const std::string& path) {
  // A missing directory is not created here: the nearest existing one must
  // be a directory this user may create entries in.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code error;
  while (!dir.empty() && !std::filesystem::exists(dir, error)) {
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  if (!dir.empty() && dir != std::filesystem::path(path).parent_path()) {
    if (!std::filesystem::is_directory(dir, error) ||
        access(dir.c_str(), W_OK | X_OK) != 0) {
      return CannotWrite(path);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<ReplacingFile>> file = ReplacingFile::Create(path);
  if (!file.ok()) return file.status();
  (*file)->Discard();
  return absl::OkStatus();
}

}  // namespace flopd
