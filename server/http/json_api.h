// The HTTP/JSON face of flopd.v1 (docs/HTTP.md): query parameters into
// request messages and statuses into HTTP answers; messages go out through
// proto/wire's ToJson (protobuf's JSON mapping: the one schema gRPC and HTTP
// share). No HTTP library here: plain strings in, plain strings out.
#ifndef FLOPD_SERVER_HTTP_JSON_API_H_
#define FLOPD_SERVER_HTTP_JSON_API_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace flopd {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Sets fields of `request` from `params`. A name is a scalar field of the
// request or of its `filter` message, either as spelled or, for a repeated
// field, singular (`op` for `ops`, `job_id` for `job_ids`). Repeated fields
// take several occurrences and/or comma-separated values. Values: strings as
// given; integers in decimal; booleans true/false/1/0. INVALID_ARGUMENT names
// the parameter: an unknown one (listing the allowed names), a value that
// does not parse, a scalar given twice.
absl::Status ParseQuery(const QueryParams& params, google::protobuf::Message* request);

// Every parameter ParseQuery accepts for messages of this type, sorted.
std::vector<std::string> QueryParamNames(const google::protobuf::Message& request);

// `text` as a JSON string literal, quotes included (control characters
// escaped; other bytes pass through).
std::string JsonString(absl::string_view text);

// {"code": "NOT_FOUND", "message": "..."}.
std::string ErrorJson(const absl::Status& status);

// The HTTP status of a gRPC code, as Google's APIs map them (docs/HTTP.md).
int HttpStatusOf(absl::StatusCode code);

}  // namespace flopd

#endif  // FLOPD_SERVER_HTTP_JSON_API_H_
