#include "common/job_plan.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dtype.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"
#include "common/size_spec.h"

namespace flopd {
namespace {

bool Contains(const std::vector<int64_t>& list, int64_t value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool Contains(const std::vector<std::string>& list, absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::vector<std::string> ImplsOn(const OpSpec& op, absl::string_view backend) {
  if (!backend.empty()) return op.ImplNames(backend);
  std::vector<std::string> names;
  for (const ImplSpec& impl : op.impls) {
    if (!Contains(names, impl.name)) names.push_back(impl.name);
  }
  return names;
}

std::string DescribeImpls(const std::vector<const OpSpec*>& ops, absl::string_view backend) {
  std::vector<std::string> parts;
  for (const OpSpec* op : ops) {
    parts.push_back(absl::StrCat(op->name, ": ", absl::StrJoin(ImplsOn(*op, backend), ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

std::string BackendWords(absl::string_view backend) {
  return backend.empty() ? std::string("any backend") : absl::StrCat("backend ", backend);
}

// Every combination of the op's params, each over its chosen values.
std::vector<ParamMap> ParamCombinations(const OpSpec& op, const JobRequest& request) {
  std::vector<ParamMap> combos = {{}};
  for (const ParamSpec& param : op.params) {
    std::vector<int64_t> values = param.allowed_values;
    for (const auto& [name, chosen] : request.params) {
      if (name != param.name) continue;
      values.clear();
      for (int64_t v : chosen) {  // keep the order given, drop repeats
        if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
      }
    }
    std::vector<ParamMap> next;
    for (const ParamMap& combo : combos) {
      for (int64_t value : values) {
        ParamMap extended = combo;
        extended[param.name] = value;
        next.push_back(extended);
      }
    }
    combos = next;
  }
  return combos;
}

}  // namespace

absl::StatusOr<JobPlan> PlanJob(const JobRequest& request, absl::string_view backend,
                                absl::string_view default_sizes) {
  if (request.ops.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ops: the op list is empty; allowed: ", AllowedOps()));
  }
  std::vector<const OpSpec*> ops;
  for (const std::string& name : request.ops) {
    absl::StatusOr<const OpSpec*> op = FindOp(name);
    if (!op.ok()) return op.status();
    if (std::find(ops.begin(), ops.end(), *op) == ops.end()) ops.push_back(*op);
  }

  for (const std::string& impl : request.impls) {
    bool known = false;
    for (const OpSpec* op : ops) known = known || Contains(ImplsOn(*op, backend), impl);
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("impl: unknown impl '",
                                                     Sanitized(impl, kQuotedValueBytes), "' on ",
                                                     BackendWords(backend), "; allowed: ",
                                                     DescribeImpls(ops, backend)));
    }
  }

  std::set<std::string> seen_params;
  for (const auto& [name, values] : request.params) {
    if (!seen_params.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params: '", Sanitized(name, kQuotedValueBytes), "' is given twice"));
    }
    const ParamSpec* spec = nullptr;
    std::vector<std::string> declared;
    for (const OpSpec* op : ops) {
      for (const ParamSpec& p : op->params) {
        declared.push_back(absl::StrCat(p.name, " (", op->name, ")"));
        if (p.name == name) spec = &p;
      }
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params: unknown param '", Sanitized(name, kQuotedValueBytes), "' for ops ",
          Sanitized(absl::StrJoin(request.ops, ", "), kQuotedValueBytes), "; allowed: ",
          declared.empty() ? std::string("none") : absl::StrJoin(declared, ", ")));
    }
    if (values.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": no values given; allowed: ",
                                                     absl::StrJoin(spec->allowed_values, ", ")));
    }
    for (int64_t value : values) {
      if (std::find(spec->allowed_values.begin(), spec->allowed_values.end(), value) ==
          spec->allowed_values.end()) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": ", value, " is not allowed; allowed: ",
                                                       absl::StrJoin(spec->allowed_values, ", ")));
      }
    }
  }

  std::vector<DType> dtypes;
  for (const std::string& name : request.dtypes) {
    absl::StatusOr<DType> dtype = ParseDType(name);
    if (!dtype.ok()) return dtype.status();
    if (std::find(dtypes.begin(), dtypes.end(), *dtype) == dtypes.end()) dtypes.push_back(*dtype);
  }
  if (dtypes.empty()) dtypes.push_back(DType::kF32);

  // Sizes per op: the request's, or each op's default on this backend (the
  // device's default for an op without its own). plan.sizes is their union,
  // in the request's order or ascending.
  JobPlan plan;
  std::vector<std::vector<int64_t>> sizes_per_op;
  for (const OpSpec* op : ops) {
    absl::StatusOr<std::vector<int64_t>> sizes = ParseSizeSpec(
        request.sizes.empty() ? op->DefaultSizes(backend, default_sizes) : request.sizes);
    if (!sizes.ok()) return sizes.status();
    for (int64_t n : *sizes) {
      if (!Contains(plan.sizes, n)) plan.sizes.push_back(n);
    }
    sizes_per_op.push_back(*std::move(sizes));
  }
  if (request.sizes.empty()) std::sort(plan.sizes.begin(), plan.sizes.end());

  // Per op: the impls to run, in catalog order.
  std::vector<std::vector<std::string>> impls_per_op;
  for (const OpSpec* op : ops) {
    std::vector<std::string> chosen;
    for (const std::string& impl : ImplsOn(*op, backend)) {
      if (request.impls.empty() || Contains(request.impls, impl)) chosen.push_back(impl);
    }
    if (chosen.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "impl: op '", op->name, "' has none of the requested impls (",
          Sanitized(absl::StrJoin(request.impls, ", "), kQuotedValueBytes), "); its impls on ",
          BackendWords(backend), ": ",
          absl::StrJoin(ImplsOn(*op, backend), ", ")));
    }
    impls_per_op.push_back(chosen);
  }

  // Per op: its param combinations, once (not per point: a request may
  // repeat a param value a million times).
  std::vector<std::vector<ParamMap>> params_per_op;
  for (const OpSpec* op : ops) params_per_op.push_back(ParamCombinations(*op, request));

  for (int64_t n : plan.sizes) {
    for (DType dtype : dtypes) {
      for (size_t k = 0; k < ops.size(); ++k) {
        if (!Contains(sizes_per_op[k], n)) continue;
        for (const std::string& impl : impls_per_op[k]) {
          for (const ParamMap& params : params_per_op[k]) {
            absl::StatusOr<PointSpec> point =
                ResolvePoint(PointSpec{ops[k]->name, impl, params, dtype, n});
            if (!point.ok()) return point.status();
            plan.points.push_back(*std::move(point));
          }
        }
      }
    }
  }
  return plan;
}

}  // namespace flopd
