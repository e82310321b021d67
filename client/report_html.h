// One self-contained HTML report of results: the host table, the measured
// ceilings the results were placed against, the charts of plot_svg.h
// (inline SVG) and the result table. Inline CSS, no scripts, no external
// resources; every piece of text from the results is escaped. Deterministic:
// the same results give the same bytes.
#ifndef FLOPD_CLIENT_REPORT_HTML_H_
#define FLOPD_CLIENT_REPORT_HTML_H_

#include <string>
#include <vector>

#include "flopd/v1/flopd.pb.h"

namespace flopd {

// `sources` names the files the results came from (shown in the header).
std::string ReportHtml(const std::vector<v1::Result>& results,
                       const std::vector<std::string>& sources);

}  // namespace flopd

#endif  // FLOPD_CLIENT_REPORT_HTML_H_
