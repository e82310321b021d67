// A thin RAII layer over SQLite's C API for the store: a connection, a
// prepared statement, and SQLite errors as absl::Status with canonical codes
// (SQLITE_FULL -> RESOURCE_EXHAUSTED, SQLITE_CORRUPT/NOTADB -> DATA_LOSS,
// SQLITE_BUSY/LOCKED -> UNAVAILABLE, SQLITE_READONLY/CANTOPEN/PERM/AUTH ->
// PERMISSION_DENIED, I/O errors -> UNAVAILABLE, the rest INTERNAL), each
// message naming what was being done and SQLite's own words.
//
// Thread-compatible: one connection and its statements are used by one
// thread at a time (the store serializes its use of each).
#ifndef FLOPD_SERVER_STORE_SQLITE_H_
#define FLOPD_SERVER_STORE_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flopd::sqlite {

// The status of SQLite result code `rc` on `db` (may be null), "what: ...".
absl::Status ErrorStatus(sqlite3* db, int rc, absl::string_view what);

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite. Text and blobs are copied.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);

  // Runs to the next row: true with a row, false when done.
  absl::StatusOr<bool> Step();
  // Runs to completion, expecting no rows of interest.
  absl::Status Run();
  // Ready to run again; bindings are cleared.
  void Reset();

  // Columns of the current row (0-based).
  int64_t Int(int column) const;
  std::string Text(int column) const;
  // Valid until the next Step or Reset.
  absl::string_view Blob(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // sqlite3_open_v2 with `flags` (SQLITE_OPEN_*) and busy_timeout_ms.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path, int flags,
                                                        int busy_timeout_ms);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  absl::Status Exec(const std::string& sql);
  absl::StatusOr<std::unique_ptr<Statement>> Prepare(const std::string& sql);
  // The first column of the first row of `sql` as an integer.
  absl::StatusOr<int64_t> QueryInt(const std::string& sql);
  int64_t changes() const;
  sqlite3* raw() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when destroyed uncommitted.
class Transaction {
 public:
  explicit Transaction(Database* db) : db_(db) {}
  ~Transaction();
  absl::Status Begin();
  absl::Status Commit();

 private:
  Database* db_;
  bool open_ = false;
};

}  // namespace flopd::sqlite

#endif  // FLOPD_SERVER_STORE_SQLITE_H_
