// The HTTP query parser (server/http/json_api.h ParseQuery) on arbitrary
// query strings, into the request messages of /api/v1/results, /api/v1/jobs
// and /api/v1/watch, then the checks the history API makes of a parsed
// request before it touches the store (HistoryApi with no store: filters
// normalized, page size checked; the store's absence is the only error left),
// and the answer's JSON as the HTTP layer prints it.
//
// Input: the first byte picks the endpoint; the rest is split at '&' into
// parameters and each at its first '=' into name and value (as the HTTP
// library hands them over, already decoded: bytes are kept as they are).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "flopd/v1/flopd.pb.h"
#include "proto/wire/wire.h"
#include "server/history_api.h"
#include "server/http/json_api.h"
#include "tests/fuzz/fuzz_check.h"

namespace flopd {
namespace {

QueryParams Split(absl::string_view query) {
  QueryParams params;
  if (query.empty()) return params;
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) {
      params.emplace_back(std::string(pair), "");
    } else {
      params.emplace_back(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
    }
  }
  return params;
}

// What the HTTP layer sends for a status: the code maps to an HTTP status and
// the message is a JSON string.
void Answer(const absl::Status& status) {
  const int http = HttpStatusOf(status.code());
  FUZZ_CHECK(http >= 200 && http <= 599);
  const std::string json = ErrorJson(status);
  FUZZ_CHECK(absl::StartsWith(json, "{\"code\": \""));
  for (char c : json) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20);  // controls escaped
}

// Only the store may be missing once the request parsed and passed the checks.
template <typename Response>
void Checked(const absl::StatusOr<Response>& answer) {
  FUZZ_CHECK(!answer.ok());
  const absl::StatusCode code = answer.status().code();
  FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
             code == absl::StatusCode::kFailedPrecondition);
  Answer(answer.status());
}

template <typename Request>
bool Parse(const QueryParams& params, Request* request) {
  const absl::Status parsed = ParseQuery(params, request);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.code() == absl::StatusCode::kInvalidArgument);
    Answer(parsed);
    return false;
  }
  (void)ToJson(*request);
  return true;
}

}  // namespace
}  // namespace flopd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flopd;
  static const HistoryApi* const api = [] {
    StoreHealth off;
    off.state = "off";
    return new HistoryApi(nullptr, nullptr, nullptr, "fuzzhost", off);
  }();
  if (size == 0) return 0;
  const QueryParams params =
      Split(absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  switch (data[0] % 3) {
    case 0: {
      v1::ListResultsRequest request;
      if (Parse(params, &request)) Checked(api->ListResults(request));
      break;
    }
    case 1: {
      v1::ListJobsRequest request;
      if (Parse(params, &request)) Checked(api->ListJobs(request));
      break;
    }
    default: {
      v1::WatchResultsRequest request;
      if (!Parse(params, &request)) break;
      const absl::StatusOr<ResultFilter> filter = api->CheckWatch(request);
      if (!filter.ok()) Answer(filter.status());
      break;
    }
  }
  return 0;
}
