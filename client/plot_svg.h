// SVG charts of results, written by hand (no plotting library) so that the
// output is deterministic: the same results give byte-identical files
// (fixed number formatting, sorted series, no timestamps).
//
//   runtime vs FLOPs and vs N (the seed's Figures 2 and 3): one panel per
//     host/device, one line per op/impl/params/dtype, the roofline floor of
//     each line dashed in the same colour when the results carry it;
//   roofline: achieved FLOP/s vs arithmetic intensity, one panel per
//     host/device, with the device's measured ceilings per dtype;
//   fleet: when results come from several hosts, one panel per
//     op/impl/params/dtype with every host's median at each N and the
//     spread (min..max over hosts) as a vertical bar.
// All axes are log10 with decade ticks and units in their labels.
//
// Thread-safe: pure functions.
#ifndef FLOPD_CLIENT_PLOT_SVG_H_
#define FLOPD_CLIENT_PLOT_SVG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

enum class PlotKind { kAll, kRuntimeVsFlops, kRuntimeVsN, kRoofline, kFleet };

// "all" | "flops" | "n" | "roofline" | "fleet"; INVALID_ARGUMENT otherwise.
absl::StatusOr<PlotKind> ParsePlotKind(absl::string_view name);

// Escapes & < > " ' for XML/HTML text and attribute values.
std::string XmlEscape(absl::string_view text);

// One SVG document with the chosen charts stacked vertically (kAll: runtime
// vs FLOPs, runtime vs N, roofline, and fleet when there are several hosts).
// `standalone` adds the XML declaration (for a .svg file); without it the
// <svg> element can be inlined in HTML. Panels carry class="panel" and
// data-title; lines class="series" and data-series with the legend label.
std::string PlotSvg(const std::vector<v1::Result>& results, PlotKind kind, bool standalone = true);

// One input of `flopctl plot`/`report`: one file's results under a label
// (the file's name without directory and extension, or --label).
struct LabelledRun {
  std::string label;
  std::vector<v1::Result> results;
};

// Several runs in one picture: every line is one run's ("LABEL: op/impl
// params dtype"), never two runs joined into one line, and the fleet panels
// are drawn per fleet (Fleets below; titles "LABEL: ..." per run). With one
// input, exactly PlotSvg(inputs[0].results, ...): no label anywhere. When the
// results mix timing modes, the mode ends each line's label too.
std::string PlotSvg(const std::vector<LabelledRun>& runs, PlotKind kind, bool standalone = true);

// The fleets several runs form, for the fleet panels and the report's fleet
// view: when no host is in two runs (one file per host, say), one fleet of
// all of them, labelled ""; otherwise each run is its own fleet, under its
// label (a host is never compared with itself in another run). One run:
// itself, labelled "".
std::vector<LabelledRun> Fleets(const std::vector<LabelledRun>& runs);

}  // namespace flopd

#endif  // FLOPD_CLIENT_PLOT_SVG_H_
