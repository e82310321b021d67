// Rendering results: the live line per result, the aggregated fleet table.
// The file formats (CSV, JSON, JSON Lines) and their reader are in
// client/result_files.h, included here.
#ifndef FLOPD_CLIENT_RESULT_FORMAT_H_
#define FLOPD_CLIENT_RESULT_FORMAT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/result_files.h"
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
//
// `max_width` (terminal columns; 0 = no limit, for pipes and files): a table
// wider than it is laid out again to fit. Several hosts are pivoted first to
// one row per (point, host), each with its own median, GFLOP/s, GB/s and
// noise (and FAIL where it failed verification), then a "fleet median" row
// with the point's fleet figures; what is
// still too wide is wrapped into blocks of columns, each repeating the
// point's columns (RenderColumnsWithin). With several hosts side by side,
// the noise cell names the host whose noise it is (the worst).
std::string AggregateTable(const std::vector<v1::Result>& results,
                           const std::vector<std::string>& host_order, size_t max_width = 0);

// The warnings results carry (Result.warnings: verification failures, noise
// above its target, clock drops, ...), for under the table: "" when none,
// else "\nwarnings:\n" and one line per point and warning, naming the hosts
// that gave it ("  a, b  matvec/gemv f32 N=1000: noise above target"), at
// most `max_lines` of them and then how many more there are.
std::string WarningsText(const std::vector<v1::Result>& results, size_t max_lines = 20);

// The width a table on `fd` should fit: the terminal's columns when `fd` is
// a terminal, else $COLUMNS when it is a positive number, else 0 (no limit).
size_t OutputWidth(int fd);

// Rows as aligned text columns, two spaces apart: the first `left_columns`
// left-aligned, the rest right-aligned; one line per row.
std::string RenderColumns(const std::vector<std::vector<std::string>>& rows, size_t left_columns);
// As above, column c right-aligned where right_aligned[c] (left beyond it).
std::string RenderColumns(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_aligned);
// As above within `max_width` columns (0 = no limit): when the rows are
// wider, the columns after the first `key_columns` are split into blocks that
// fit beside the key columns (at least one column each), printed one after
// another with a blank line between; a row whose cells of a block are all
// empty is left out of that block (the first row, the header, never is).
std::string RenderColumnsWithin(const std::vector<std::vector<std::string>>& rows,
                                const std::vector<bool>& right_aligned, size_t key_columns,
                                size_t max_width);

// The file formats (ToJsonLine, ToJsonArray, FromJsonLine, CsvHeader,
// ToCsvRow) and ReadResultsFile, the reader of every format: result_files.h.

}  // namespace flopd

#endif  // FLOPD_CLIENT_RESULT_FORMAT_H_
