// The built-in dashboard's files (server/http/dashboard/), compiled into
// flopd so the page works offline and needs nothing installed beside the
// binary. The definition is generated at build time (embed_assets.cmake).
#ifndef FLOPD_SERVER_HTTP_DASHBOARD_ASSETS_H_
#define FLOPD_SERVER_HTTP_DASHBOARD_ASSETS_H_

#include <string_view>
#include <vector>

namespace flopd {

struct DashboardAsset {
  const char* path;          // "/index.html", "/dashboard.js"
  const char* content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

const std::vector<DashboardAsset>& DashboardAssets();

}  // namespace flopd

#endif  // FLOPD_SERVER_HTTP_DASHBOARD_ASSETS_H_
