// Rendering results: the live line per result, the aggregated fleet table,
// and the file formats (CSV, JSON, JSON Lines). JSON uses protobuf's JSON
// mapping of flopd.v1.Result with the proto's field names, so a JSON Lines
// file carries exactly the fields of the wire message.
#ifndef FLOPD_CLIENT_RESULT_FORMAT_H_
#define FLOPD_CLIENT_RESULT_FORMAT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

// "812.3 µs", "1.234 ms", "2.000 s": four significant digits.
std::string FormatSeconds(double seconds);

// How tables, plots and reports name the hosts of `results`, keyed by
// ResultHost (the address dialled): the hosts file's label
// (Result.host_label), else the hostname the daemon reported, else the
// address. A name that two addresses share (two daemons on one machine, or
// two with the same --hostname) gets its address appended: "gpu01
// (10.0.0.1:50061)". Names are never empty.
using HostNames = std::map<std::string, std::string>;
HostNames NameHosts(const std::vector<v1::Result>& results);

// A result's host as a name alone (no disambiguation): label, else hostname,
// else address.
std::string HostNameOf(const v1::Result& result);

// "HOST matvec/gemv f32 N=2000  median 1.234 ms  noise 0.21% (noise_target_met,
// 10 samples x 1)  3.242 GFLOP/s  12.97 GB/s  verified", HOST as HostNameOf.
std::string ResultLine(const v1::Result& result);

// The aggregated table: one row per (dtype, N, op, impl, params) with each
// host's median, the fleet median (more than one host), throughput, the
// worst noise, the time relative to the op's baseline in the catalog
// (OpSpec::baseline, matvec/gemm for today's ops) at the same N and dtype,
// and verification. Hosts appear as columns in `host_order` (addresses, as
// ResultHost gives them), each headed by its NameHosts name.
std::string AggregateTable(const std::vector<v1::Result>& results,
                           const std::vector<std::string>& host_order);

// Rows as aligned text columns, two spaces apart: the first `left_columns`
// left-aligned, the rest right-aligned; one line per row.
std::string RenderColumns(const std::vector<std::vector<std::string>>& rows, size_t left_columns);
// As above, column c right-aligned where right_aligned[c] (left beyond it).
std::string RenderColumns(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_aligned);

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
