// Results files: the formats `flopctl run`, `history` and `watch` write
// (--out, --format) and the one reader every command that reads results
// uses (plot, report, compare, fleet, show).
//
// JSON (a JSON Lines file, or a JSON array of the same objects) is
// protobuf's JSON mapping of flopd.v1.Result with the proto's field names,
// made for data tools such as pandas: int64 fields are JSON numbers (not
// strings), and a double that is not finite is null, never "Infinity" or
// "NaN". A result whose relative_noise is null (fewer than 3 samples: no
// noise figure) also carries "relative_noise_note" saying why. The reader
// takes these files and the older ones (int64 as strings, "Infinity").
//
// CSV has one header line and one row per result: every field a table, plot,
// report or compare needs, the raw samples included (space-separated, in
// `sample_seconds`), so it reads back like the JSON formats. A field that is
// not finite is empty.
//
// Thread-safe: free functions over their arguments.
#ifndef FLOPD_CLIENT_RESULT_FILES_H_
#define FLOPD_CLIENT_RESULT_FILES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

enum class ResultFormat { kTable, kCsv, kJson, kJsonl };

// "table", "csv", "json", "jsonl".
absl::string_view ResultFormatName(ResultFormat format);

// The text a result's relative_noise_note carries: empty while
// relative_noise is finite, else "no noise figure: fewer than 3 samples"
// (or "...: the median is not positive").
std::string NoiseNote(const v1::Result& result);

std::string ToJsonLine(const v1::Result& result);  // one JSON object, no newline
// "[\n" + the objects, one a line, comma-separated + "\n]\n".
std::string ToJsonArray(const std::vector<v1::Result>& results);
// One JSON object (this writer's or an older flopctl's). Keys are proto
// field names or their JSON (lowerCamel) names; unknown keys are ignored; a
// null double reads as +infinity (flopd's "no figure"), other nulls as the
// field's default. INVALID_ARGUMENT "not a flopd result: ..." otherwise.
absl::StatusOr<v1::Result> FromJsonLine(const std::string& line);

std::string CsvHeader();                        // no newline
std::string ToCsvRow(const v1::Result& result);  // no newline

// The format of a results file's text: by its content ('[' a JSON array,
// '{' JSON Lines, a header line naming the columns op and n: CSV), else by
// the name's extension (.csv, .json, .jsonl); nullopt when neither tells.
std::optional<ResultFormat> DetectResultFormat(absl::string_view text, absl::string_view name);

// Every result in `text`, a results file in any format above (blank lines
// and, in CSV, columns this build does not know are skipped; columns it
// knows but the file lacks are left at their defaults). `name` prefixes
// errors: INVALID_ARGUMENT "NAME:LINE: not a flopd result: ..." (a JSON
// array: "NAME: result K: ..."). A result needs an op and an N > 0.
absl::StatusOr<std::vector<v1::Result>> ParseResults(absl::string_view text,
                                                     absl::string_view name);

// ParseResults of the file `path` ("-": standard input). NOT_FOUND "FILE:
// cannot read (no such file?)" when it cannot be read.
absl::StatusOr<std::vector<v1::Result>> ReadResultsFile(const std::string& path);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RESULT_FILES_H_
