// One self-contained HTML report of results: the host table, the measured
// ceilings the results were placed against, the charts of plot_svg.h
// (inline SVG) and the result table. Inline CSS, no scripts, no external
// resources; every piece of text from the results is escaped. Deterministic:
// the same results give the same bytes.
#ifndef FLOPD_CLIENT_REPORT_HTML_H_
#define FLOPD_CLIENT_REPORT_HTML_H_

#include <string>
#include <vector>

#include "client/plot_svg.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

// `sources` names the files the results came from (shown in the header).
std::string ReportHtml(const std::vector<v1::Result>& results,
                       const std::vector<std::string>& sources);

// Several runs (one per input file, `sources` in the same order): each
// table's rows start with the run's label, the fleet view is one table per
// run (a run's hosts against each other) and the plots draw each run's own
// lines (PlotSvg of the runs). With one run, as above.
std::string ReportHtml(const std::vector<LabelledRun>& runs,
                       const std::vector<std::string>& sources);

}  // namespace flopd

#endif  // FLOPD_CLIENT_REPORT_HTML_H_
