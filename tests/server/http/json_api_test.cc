// The HTTP/JSON mapping: query parameters into the very request messages the
// gRPC API takes, JSON out through protobuf's mapping, statuses into HTTP.
#include "server/http/json_api.h"

#include "absl/strings/match.h"
#include "flopd/v1/flopd.pb.h"
#include "gtest/gtest.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

TEST(ParseQueryTest, FilterFieldsSingularPluralRepeatedAndComma) {
  v1::ListResultsRequest request;
  ASSERT_TRUE(ParseQuery({{"op", "outer"},
                          {"ops", "matvec,dot"},
                          {"job_id", "j-1"},
                          {"params", "axis=1"},
                          {"min_n", "100"},
                          {"max_n", "2000"},
                          {"page_size", "7"},
                          {"page_token", "tok"},
                          {"newest_first", "true"}},
                         &request)
                  .ok());
  EXPECT_EQ(request.filter().ops_size(), 3);
  EXPECT_EQ(request.filter().ops(0), "outer");
  EXPECT_EQ(request.filter().ops(2), "dot");
  EXPECT_EQ(request.filter().job_ids(0), "j-1");
  EXPECT_EQ(request.filter().params(0), "axis=1");
  EXPECT_EQ(request.filter().min_n(), 100);
  EXPECT_EQ(request.filter().max_n(), 2000);
  EXPECT_EQ(request.page_size(), 7);
  EXPECT_EQ(request.page_token(), "tok");
  EXPECT_TRUE(request.newest_first());
}

TEST(ParseQueryTest, JobFilterStates) {
  v1::ListJobsRequest request;
  ASSERT_TRUE(ParseQuery({{"state", "queued,running"}, {"since_unix_ms", "5"}}, &request).ok());
  ASSERT_EQ(request.filter().states_size(), 2);
  EXPECT_EQ(request.filter().states(1), "running");
  EXPECT_EQ(request.filter().since_unix_ms(), 5);
}

TEST(ParseQueryTest, UnknownParameterNamesItAndListsTheAllowedOnes) {
  v1::ListResultsRequest request;
  const absl::Status st = ParseQuery({{"colour", "red"}}, &request);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "unknown parameter 'colour'")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "job_ids")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "page_size")) << st;
  // The message-typed field itself is not a parameter.
  EXPECT_FALSE(absl::StrContains(st.message(), "filter")) << st;
  EXPECT_EQ(ParseQuery({{"filter", "x"}}, &request).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseQueryTest, BadValuesNameTheParameter) {
  v1::ListResultsRequest request;
  absl::Status st = ParseQuery({{"min_n", "ten"}}, &request);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "min_n: 'ten'")) << st;
  st = ParseQuery({{"page_size", "99999999999"}}, &request);
  EXPECT_TRUE(absl::StrContains(st.message(), "page_size")) << st;
  st = ParseQuery({{"newest_first", "yes"}}, &request);
  EXPECT_TRUE(absl::StrContains(st.message(), "newest_first: 'yes'")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "true, false")) << st;
  st = ParseQuery({{"page_size", "1"}, {"page_size", "2"}}, &request);
  EXPECT_TRUE(absl::StrContains(st.message(), "page_size: given more than once")) << st;
}

TEST(ParseQueryTest, SingularOfAScalarIsNotAccepted) {
  // "page_sizes" is not a field, and "min_ns" must not map to min_n.
  v1::ListResultsRequest request;
  EXPECT_FALSE(ParseQuery({{"min_ns", "1"}}, &request).ok());
  EXPECT_FALSE(ParseQuery({{"page_sizes", "1"}}, &request).ok());
}

TEST(ToJsonTest, ProtoFieldNamesEveryFieldAndInt64AsStrings) {
  v1::Result result;
  result.set_n(20000);
  result.set_op("outer");
  (*result.mutable_params())["axis"] = 1;
  const std::string json = ToJson(result);
  EXPECT_TRUE(absl::StrContains(json, "\"n\":\"20000\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"params\":{\"axis\":\"1\"}")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"measured_unix_ms\":\"0\"")) << json;  // defaults too
  EXPECT_TRUE(absl::StrContains(json, "\"relative_noise\":0")) << json;
}

TEST(ErrorJsonTest, EscapesTheMessage) {
  const std::string json =
      ErrorJson(absl::InvalidArgumentError("ops: unknown op 'a\"b\\c'\n\x01"));
  EXPECT_EQ(json,
            "{\"code\": \"INVALID_ARGUMENT\", \"message\": \"ops: unknown op 'a\\\"b\\\\c'\\n"
            "\\u0001\"}");
}

TEST(HttpStatusOfTest, GoogleMapping) {
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnauthenticated), 401);
}

}  // namespace
}  // namespace flopd
