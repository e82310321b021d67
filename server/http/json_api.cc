#include "server/http/json_api.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/sanitize.h"
#include "google/protobuf/descriptor.h"

namespace flopd {

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Where a query parameter lands: a field of the request or of its filter.
struct Target {
  const FieldDescriptor* field = nullptr;
  bool in_filter = false;
};

const FieldDescriptor* FilterField(const Descriptor& request) {
  const FieldDescriptor* filter = request.FindFieldByName("filter");
  if (filter == nullptr || filter->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
      filter->is_repeated()) {
    return nullptr;
  }
  return filter;
}

bool IsQueryable(const FieldDescriptor& field) {
  return field.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE;
}

// The name's field in `type`: as spelled, or the plural of a repeated field.
const FieldDescriptor* FindField(const Descriptor& type, const std::string& name) {
  const FieldDescriptor* field = type.FindFieldByName(name);
  if (field == nullptr) {
    field = type.FindFieldByName(name + "s");
    if (field != nullptr && !field->is_repeated()) field = nullptr;
  }
  return field != nullptr && IsQueryable(*field) ? field : nullptr;
}

Target FindTarget(const Descriptor& request, const std::string& name) {
  if (const FieldDescriptor* field = FindField(request, name)) return {field, false};
  if (const FieldDescriptor* filter = FilterField(request)) {
    if (const FieldDescriptor* field = FindField(*filter->message_type(), name)) {
      return {field, true};
    }
  }
  return {};
}

absl::Status BadValue(const std::string& name, const std::string& value,
                      const std::string& allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat(Sanitized(name, kQuotedValueBytes), ": '", Sanitized(value, kQuotedValueBytes),
                   "' is not allowed; allowed: ", allowed));
}

absl::Status SetValue(Message* message, const FieldDescriptor& field, const std::string& name,
                      const std::string& value) {
  const Reflection& reflection = *message->GetReflection();
  const bool repeated = field.is_repeated();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? reflection.AddString(message, &field, value)
               : reflection.SetString(message, &field, value);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v = 0;
      if (!absl::SimpleAtoi(value, &v)) return BadValue(name, value, "a 32-bit integer");
      repeated ? reflection.AddInt32(message, &field, v) : reflection.SetInt32(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(value, &v)) return BadValue(name, value, "a 64-bit integer");
      repeated ? reflection.AddInt64(message, &field, v) : reflection.SetInt64(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const std::string lower = absl::AsciiStrToLower(value);
      bool v = false;
      if (lower == "true" || lower == "1") {
        v = true;
      } else if (lower != "false" && lower != "0") {
        return BadValue(name, value, "true, false, 1, 0");
      }
      repeated ? reflection.AddBool(message, &field, v) : reflection.SetBool(message, &field, v);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(name, ": cannot be given as a parameter"));
  }
}

}  // namespace

std::vector<std::string> QueryParamNames(const Message& request) {
  std::vector<std::string> names;
  auto add_fields = [&](const Descriptor& type) {
    for (int i = 0; i < type.field_count(); ++i) {
      const FieldDescriptor& field = *type.field(i);
      if (IsQueryable(field)) names.push_back(field.name());
    }
  };
  add_fields(*request.GetDescriptor());
  if (const FieldDescriptor* filter = FilterField(*request.GetDescriptor())) {
    add_fields(*filter->message_type());
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status ParseQuery(const QueryParams& params, Message* request) {
  const Descriptor& type = *request->GetDescriptor();
  std::vector<const FieldDescriptor*> seen;
  for (const auto& [name, value] : params) {
    const Target target = FindTarget(type, name);
    if (target.field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter '", Sanitized(name, kQuotedValueBytes), "'; allowed: ",
                       absl::StrJoin(QueryParamNames(*request), ", ")));
    }
    Message* message =
        target.in_filter
            ? request->GetReflection()->MutableMessage(request, FilterField(type))
            : request;
    if (!target.field->is_repeated()) {
      if (std::find(seen.begin(), seen.end(), target.field) != seen.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": given more than once; it takes one value"));
      }
      seen.push_back(target.field);
      if (absl::Status st = SetValue(message, *target.field, name, value); !st.ok()) return st;
      continue;
    }
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      if (absl::Status st = SetValue(message, *target.field, name, std::string(part)); !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string ErrorJson(const absl::Status& status) {
  return absl::StrCat("{\"code\": ", JsonString(absl::StatusCodeToString(status.code())),
                      ", \"message\": ", JsonString(status.message()), "}");
}

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

}  // namespace flopd
