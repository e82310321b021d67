// Rendering results: the live line per result, the aggregated fleet table,
// and the file formats (CSV, JSON, JSON Lines). JSON uses protobuf's JSON
// mapping of flopd.v1.Result with the proto's field names, so a JSON Lines
// file carries exactly the fields of the wire message.
#ifndef FLOPD_CLIENT_RESULT_FORMAT_H_
#define FLOPD_CLIENT_RESULT_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

// "812.3 µs", "1.234 ms", "2.000 s": four significant digits.
std::string FormatSeconds(double seconds);

// "HOST matvec/gemv f32 N=2000  median 1.234 ms  noise 0.21% (noise_target_met,
// 10 samples x 1)  3.242 GFLOP/s  12.97 GB/s  verified", HOST as ResultHost.
std::string ResultLine(const v1::Result& result);

// The aggregated table: one row per (dtype, N, op, impl, params) with each
// host's median, the fleet median (more than one host), throughput, the
// worst noise, the time relative to the op's baseline in the catalog
// (OpSpec::baseline, matvec/gemm for today's ops) at the same N and dtype,
// and verification. Hosts (ResultHost) appear as columns in `host_order`.
std::string AggregateTable(const std::vector<v1::Result>& results,
                           const std::vector<std::string>& host_order);

std::string ToJsonLine(const v1::Result& result);  // no trailing newline
std::string ToJsonArray(const std::vector<v1::Result>& results);
std::string CsvHeader();
std::string ToCsvRow(const v1::Result& result);
absl::StatusOr<v1::Result> FromJsonLine(const std::string& line);

// Every result of a JSON Lines file written by `flopctl run --out` (blank
// lines skipped). NOT_FOUND "FILE: cannot read" for a missing file;
// INVALID_ARGUMENT "FILE:LINE: not a flopd result: ..." for a bad line.
absl::StatusOr<std::vector<v1::Result>> ReadResultsFile(const std::string& path);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RESULT_FORMAT_H_
