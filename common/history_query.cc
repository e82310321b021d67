#include "common/history_query.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/dtype.h"
#include "common/job_record.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

bool AnyOf(const std::vector<std::string>& values, const std::string& value) {
  return values.empty() || std::find(values.begin(), values.end(), value) != values.end();
}

std::string AllImplNames() {
  std::vector<std::string> names;
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& impl : op.impls) {
      if (std::find(names.begin(), names.end(), impl.name) == names.end()) {
        names.push_back(impl.name);
      }
    }
  }
  return absl::StrJoin(names, ", ");
}

bool IsImplName(const std::string& name) {
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& impl : op.impls) {
      if (impl.name == name) return true;
    }
  }
  return false;
}

const ParamSpec* FindAnyParam(const std::string& name) {
  for (const OpSpec& op : OpCatalog()) {
    if (const ParamSpec* param = op.FindParam(name)) return param;
  }
  return nullptr;
}

std::string AllParamNames() {
  std::set<std::string> names;
  for (const OpSpec& op : OpCatalog()) {
    for (const ParamSpec& param : op.params) names.insert(param.name);
  }
  return absl::StrJoin(names, ", ");
}

// "axis=1" -> itself; "b=2 a=1" -> "a=1 b=2"; errors name the field.
absl::StatusOr<std::string> NormalizeParamsLabel(const std::string& label,
                                                 const std::string& field) {
  std::map<std::string, int64_t> params;
  for (absl::string_view part : absl::StrSplit(label, ' ', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    int64_t value = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", Sanitized(label, kQuotedValueBytes),
                       "' is not a params label; expected NAME=VALUE[ NAME=VALUE...], "
                       "e.g. axis=1"));
    }
    const ParamSpec* param = FindAnyParam(kv[0]);
    if (param == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unknown param '", Sanitized(kv[0], kQuotedValueBytes),
                       "'; allowed: ", AllParamNames()));
    }
    if (std::find(param->allowed_values.begin(), param->allowed_values.end(), value) ==
        param->allowed_values.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", kv[0], "=", value,
                       " is not allowed; allowed: ", absl::StrJoin(param->allowed_values, ", ")));
    }
    params[kv[0]] = value;
  }
  if (params.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": an empty params label; expected NAME=VALUE, e.g. axis=1"));
  }
  return absl::StrJoin(params, " ", absl::PairFormatter("="));
}

absl::Status CheckCount(const std::vector<std::string>& values, const std::string& field) {
  if (static_cast<int>(values.size()) > kMaxFilterValues) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", values.size(), " values; allowed at most ", kMaxFilterValues));
  }
  return absl::OkStatus();
}

absl::Status CheckTimeRange(int64_t since, int64_t until, const std::string& prefix) {
  if (since < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "since_unix_ms: ", since, " is out of range; allowed >= 0"));
  }
  if (until < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "until_unix_ms: ", until, " is out of range; allowed >= 0"));
  }
  if (until > 0 && since >= until) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "since_unix_ms: ", since,
                                                   " is not before ", prefix, "until_unix_ms (",
                                                   until, "); the range is empty or backwards"));
  }
  return absl::OkStatus();
}

absl::Status CheckDevices(const std::vector<std::string>& devices, const std::string& field) {
  for (const std::string& device : devices) {
    if (!IsDeviceId(device)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", Sanitized(device, kQuotedValueBytes),
                       "' is not a device id; expected BACKEND:INDEX, e.g. cpu:0, cuda:1"));
    }
  }
  return CheckCount(devices, field);
}

absl::Status CheckRunIds(const std::vector<std::string>& run_ids, const std::string& field) {
  for (const std::string& run_id : run_ids) {
    if (run_id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": an empty run id"));
    if (absl::Status st = CheckRunId(run_id, field); !st.ok()) return st;
  }
  return CheckCount(run_ids, field);
}

// Joins a list so that different lists never give the same text.
std::string ListText(const std::vector<std::string>& values) {
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string out = absl::StrCat(sorted.size(), "[");
  for (const std::string& v : sorted) absl::StrAppend(&out, v.size(), ":", v);
  return out + "]";
}

}  // namespace

bool IsDeviceId(const std::string& device) {
  const size_t colon = device.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == device.size()) return false;
  for (size_t i = 0; i < colon; ++i) {
    if (!absl::ascii_islower(device[i])) return false;
  }
  for (size_t i = colon + 1; i < device.size(); ++i) {
    if (!absl::ascii_isdigit(device[i])) return false;
  }
  return device.size() <= 32;
}

bool ResultFilter::Matches(const ResultIndex& r) const {
  return AnyOf(job_ids, r.job_id) && AnyOf(run_ids, r.run_id) && AnyOf(devices, r.device) &&
         AnyOf(ops, r.op) && AnyOf(impls, r.impl) && AnyOf(params, r.params) &&
         AnyOf(dtypes, r.dtype) && (min_n == 0 || r.n >= min_n) && (max_n == 0 || r.n <= max_n) &&
         (since_unix_ms == 0 || r.measured_unix_ms >= since_unix_ms) &&
         (until_unix_ms == 0 || r.measured_unix_ms < until_unix_ms);
}

std::string ResultFilter::Canonical() const {
  return absl::StrCat("results;job=", ListText(job_ids), ";run=", ListText(run_ids),
                      ";device=", ListText(devices), ";op=", ListText(ops),
                      ";impl=", ListText(impls), ";params=", ListText(params),
                      ";dtype=", ListText(dtypes), ";n=", min_n, "..", max_n, ";t=", since_unix_ms,
                      "..", until_unix_ms);
}

absl::Status NormalizeResultFilter(ResultFilter* f, const std::string& prefix) {
  for (const std::string& id : f->job_ids) {
    if (!IsJobId(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "job_ids: '", Sanitized(id, kQuotedValueBytes),
          "' is not a job id; expected one like j-01hv3k7q2m-x7k2pq (JobAccepted.job_id)"));
    }
  }
  if (absl::Status st = CheckCount(f->job_ids, prefix + "job_ids"); !st.ok()) return st;
  if (absl::Status st = CheckRunIds(f->run_ids, prefix + "run_ids"); !st.ok()) return st;
  if (absl::Status st = CheckDevices(f->devices, prefix + "devices"); !st.ok()) return st;
  for (const std::string& op : f->ops) {
    if (!FindOp(op).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "ops: unknown op '", Sanitized(op, kQuotedValueBytes),
                       "'; allowed: ", AllowedOps()));
    }
  }
  if (absl::Status st = CheckCount(f->ops, prefix + "ops"); !st.ok()) return st;
  for (const std::string& impl : f->impls) {
    if (!IsImplName(impl)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "impls: unknown impl '", Sanitized(impl, kQuotedValueBytes),
                       "'; allowed: ", AllImplNames()));
    }
  }
  if (absl::Status st = CheckCount(f->impls, prefix + "impls"); !st.ok()) return st;
  for (std::string& label : f->params) {
    absl::StatusOr<std::string> normal = NormalizeParamsLabel(label, prefix + "params");
    if (!normal.ok()) return normal.status();
    label = *normal;
  }
  if (absl::Status st = CheckCount(f->params, prefix + "params"); !st.ok()) return st;
  for (std::string& dtype : f->dtypes) {
    absl::StatusOr<DType> parsed = ParseDType(dtype, prefix + "dtypes");
    if (!parsed.ok()) return parsed.status();
    dtype = std::string(DTypeName(*parsed));
  }
  if (absl::Status st = CheckCount(f->dtypes, prefix + "dtypes"); !st.ok()) return st;
  if (f->min_n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "min_n: ", f->min_n, " is out of range; allowed >= 0"));
  }
  if (f->max_n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "max_n: ", f->max_n, " is out of range; allowed >= 0"));
  }
  if (f->max_n > 0 && f->min_n > f->max_n) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "min_n: ", f->min_n, " is above ", prefix, "max_n (", f->max_n, ")"));
  }
  return CheckTimeRange(f->since_unix_ms, f->until_unix_ms, prefix);
}

std::string JobFilter::Canonical() const {
  return absl::StrCat("jobs;run=", ListText(run_ids), ";device=", ListText(devices),
                      ";state=", ListText(states), ";t=", since_unix_ms, "..", until_unix_ms);
}

absl::Status NormalizeJobFilter(JobFilter* f, const std::string& prefix) {
  if (absl::Status st = CheckRunIds(f->run_ids, prefix + "run_ids"); !st.ok()) return st;
  if (absl::Status st = CheckDevices(f->devices, prefix + "devices"); !st.ok()) return st;
  for (const std::string& state : f->states) {
    if (absl::StatusOr<JobState> s = ParseJobState(state, prefix + "states"); !s.ok()) {
      return s.status();
    }
  }
  if (absl::Status st = CheckCount(f->states, prefix + "states"); !st.ok()) return st;
  return CheckTimeRange(f->since_unix_ms, f->until_unix_ms, prefix);
}

absl::StatusOr<int> EffectivePageSize(int requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: ", requested, " is out of range; allowed 0 (the default, ", kDefaultPageSize,
        ") or more (above ", kMaxPageSize, " is served as ", kMaxPageSize, ")"));
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

}  // namespace flopd
