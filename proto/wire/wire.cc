#include "proto/wire/wire.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "common/dtype.h"

namespace flopd {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share the canonical numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

v1::RunRequest ToProto(const JobSubmission& submission) {
  v1::RunRequest request;
  const JobRequest& job = submission.request;
  for (const std::string& op : job.ops) request.add_ops(op);
  for (const std::string& impl : job.impls) request.add_impls(impl);
  for (const auto& [name, values] : job.params) {
    v1::ParamChoice* param = request.add_params();
    param->set_name(name);
    for (int64_t v : values) param->add_values(v);
  }
  for (const std::string& dtype : job.dtypes) request.add_dtypes(dtype);
  request.set_sizes(job.sizes);
  request.set_device(submission.device);
  request.set_client(submission.client);
  request.set_run_id(submission.run_id);

  const MeasureRequest& m = submission.measure;
  v1::MeasureSettings* s = request.mutable_settings();
  if (m.noise_target) s->set_noise_target(*m.noise_target);
  if (m.min_samples) s->set_min_samples(*m.min_samples);
  if (m.max_time_s) s->set_max_time_s(*m.max_time_s);
  if (m.min_time_s) s->set_min_time_s(*m.min_time_s);
  if (m.iterations_per_sample) s->set_iterations_per_sample(*m.iterations_per_sample);
  if (m.fixed_samples) s->set_fixed_samples(*m.fixed_samples);
  if (m.timing) s->set_timing(*m.timing);
  if (m.cpu_threads) s->set_cpu_threads(*m.cpu_threads);
  return request;
}

JobSubmission FromProto(const v1::RunRequest& request) {
  JobSubmission submission;
  submission.request.ops.assign(request.ops().begin(), request.ops().end());
  submission.request.impls.assign(request.impls().begin(), request.impls().end());
  for (const v1::ParamChoice& param : request.params()) {
    submission.request.params.emplace_back(
        param.name(), std::vector<int64_t>(param.values().begin(), param.values().end()));
  }
  submission.request.dtypes.assign(request.dtypes().begin(), request.dtypes().end());
  submission.request.sizes = request.sizes();
  submission.device = request.device();
  submission.client = request.client();
  submission.run_id = request.run_id();

  const v1::MeasureSettings& s = request.settings();
  MeasureRequest& m = submission.measure;
  if (s.has_noise_target()) m.noise_target = s.noise_target();
  if (s.has_min_samples()) m.min_samples = s.min_samples();
  if (s.has_max_time_s()) m.max_time_s = s.max_time_s();
  if (s.has_min_time_s()) m.min_time_s = s.min_time_s();
  if (s.has_iterations_per_sample()) m.iterations_per_sample = s.iterations_per_sample();
  if (s.has_fixed_samples()) m.fixed_samples = s.fixed_samples();
  if (s.has_timing()) m.timing = s.timing();
  if (s.has_cpu_threads()) m.cpu_threads = s.cpu_threads();
  return submission;
}

v1::MeasureSettings ToProto(const MeasureSettings& settings) {
  v1::MeasureSettings out;
  out.set_noise_target(settings.noise_target);
  out.set_min_samples(settings.min_samples);
  out.set_max_time_s(settings.max_time_s);
  out.set_min_time_s(settings.min_time_s);
  out.set_iterations_per_sample(settings.iterations_per_sample);
  if (settings.fixed_samples > 0) out.set_fixed_samples(settings.fixed_samples);
  out.set_timing(std::string(TimingModeName(settings.timing)));
  out.set_cpu_threads(settings.cpu_threads);
  return out;
}

v1::RunEvent ToProto(const JobEvent& event, const JobOrigin& origin) {
  v1::RunEvent out;
  switch (event.kind) {
    case JobEvent::Kind::kAccepted: {
      v1::JobAccepted* accepted = out.mutable_accepted();
      accepted->set_job_id(origin.job_id);
      accepted->set_queue_position(event.queue_position);
      accepted->set_points_total(event.points_total);
      accepted->set_device(origin.device->id);
      *accepted->mutable_settings() = ToProto(event.settings);
      for (int64_t n : event.sizes) accepted->add_sizes(n);
      break;
    }
    case JobEvent::Kind::kStarted:
      out.mutable_started()->set_job_id(origin.job_id);
      out.mutable_started()->set_device(origin.device->id);
      out.mutable_started()->set_started_unix_ms(event.started_unix_ms);
      break;
    case JobEvent::Kind::kResult:
      *out.mutable_result() = ToProto(event.result, origin);
      break;
    case JobEvent::Kind::kStatus: {
      v1::JobStatus* status = out.mutable_status();
      status->set_job_id(origin.job_id);
      status->set_device(origin.device->id);
      status->set_phase(event.status_phase);
      status->set_message(event.status_message);
      status->set_expected_seconds(event.status_expected_seconds);
      break;
    }
    case JobEvent::Kind::kFinished: {
      v1::JobFinished* finished = out.mutable_finished();
      finished->set_job_id(origin.job_id);
      finished->set_points_measured(event.points_measured);
      finished->set_points_failed_verification(event.points_failed_verification);
      finished->set_wall_seconds(event.wall_seconds);
      break;
    }
    case JobEvent::Kind::kError: {
      v1::JobError* error = out.mutable_error();
      error->set_job_id(origin.job_id);
      error->set_code(absl::StatusCodeToString(event.error.code()));
      error->set_message(std::string(event.error.message()));
      error->set_points_measured(event.points_measured);
      break;
    }
  }
  return out;
}

v1::Result ToProto(const PointOutcome& outcome, const JobOrigin& origin) {
  const PointSpec& point = outcome.point;
  const SampleSummary& s = outcome.summary;
  v1::Result r;
  r.set_job_id(origin.job_id);
  r.set_run_id(origin.run_id);
  r.set_hostname(origin.hostname);
  r.set_flopd_version(origin.flopd_version);
  r.set_flopd_build(origin.flopd_build);
  r.set_device(origin.device->id);
  r.set_device_name(origin.device->name);
  r.set_backend(origin.device->backend);
  r.set_library(origin.device->library);
  r.set_op(point.op);
  r.set_impl(point.impl);
  for (const auto& [name, value] : point.params) (*r.mutable_params())[name] = value;
  r.set_dtype(std::string(DTypeName(point.dtype)));
  r.set_n(point.n);
  r.set_flops(outcome.flops);
  r.set_min_bytes(outcome.min_bytes);
  r.set_timing(std::string(TimingModeName(outcome.settings.timing)));
  r.set_samples(s.count);
  r.set_iterations_per_sample(outcome.iterations_per_sample);
  v1::TimeStats* t = r.mutable_time();
  t->set_median(s.median);
  t->set_mean(s.mean);
  t->set_min(s.min);
  t->set_max(s.max);
  t->set_stddev(s.stddev);
  t->set_p05(s.p05);
  t->set_p25(s.p25);
  t->set_p75(s.p75);
  t->set_p95(s.p95);
  r.set_relative_noise(s.relative_noise);
  r.set_noise_target(outcome.settings.noise_target);
  r.set_stop_reason(outcome.stop_reason);
  if (outcome.flops_per_s > 0) r.set_gflops_per_s(outcome.flops_per_s / 1e9);
  if (outcome.bytes_per_s > 0) r.set_gbytes_per_s(outcome.bytes_per_s / 1e9);
  v1::Verification* v = r.mutable_verification();
  v->set_passed(outcome.verification.passed);
  v->set_max_rel_error(outcome.verification.max_rel_error);
  v->set_tolerance(outcome.verification.tolerance);
  v->set_detail(outcome.verification.detail);
  for (const std::string& w : outcome.warnings) r.add_warnings(w);
  for (const auto& [key, value] : outcome.observations) (*r.mutable_observations())[key] = value;
  for (double sample : outcome.samples) r.add_sample_seconds(sample);
  r.set_threads(outcome.threads);
  r.set_measured_unix_ms(outcome.measured_unix_ms);
  r.set_point_wall_seconds(outcome.wall_seconds);
  if (outcome.roofline) {
    const RooflinePlacement& p = *outcome.roofline;
    v1::Roofline* roof = r.mutable_roofline();
    roof->set_intensity(p.intensity);
    roof->set_floor_seconds(p.floor_seconds);
    roof->set_efficiency(p.efficiency);
    roof->set_bound(std::string(BoundName(p.bound)));
    roof->set_peak_flops_per_s(p.peak_flops_per_s);
    roof->set_peak_bandwidth_bytes_per_s(p.peak_bandwidth_bytes_per_s);
    roof->set_compute_seconds(p.compute_seconds);
    roof->set_memory_seconds(p.memory_seconds);
    roof->set_latency_threshold_seconds(outcome.latency_threshold_seconds);
    roof->set_ceilings_measured_unix_ms(outcome.ceilings_measured_unix_ms);
  }
  return r;
}

PointSpec ResultPoint(const v1::Result& result) {
  PointSpec point;
  point.op = result.op();
  point.impl = result.impl();
  point.params.insert(result.params().begin(), result.params().end());
  absl::StatusOr<DType> dtype = ParseDType(result.dtype());
  if (dtype.ok()) point.dtype = *dtype;
  point.n = result.n();
  absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
  return resolved.ok() ? *std::move(resolved) : point;
}

PointKey ResultKey(const v1::Result& result) {
  PointKey key = KeyOf(ResultPoint(result));
  std::get<3>(key) = result.dtype();  // as sent, even when this build does not know it
  return key;
}

std::string ResultHost(const v1::Result& result) {
  return result.host_address().empty() ? result.hostname() : result.host_address();
}

v1::ResultFilter ToProto(const ResultFilter& filter) {
  v1::ResultFilter out;
  for (const std::string& v : filter.job_ids) out.add_job_ids(v);
  for (const std::string& v : filter.run_ids) out.add_run_ids(v);
  for (const std::string& v : filter.devices) out.add_devices(v);
  for (const std::string& v : filter.ops) out.add_ops(v);
  for (const std::string& v : filter.impls) out.add_impls(v);
  for (const std::string& v : filter.params) out.add_params(v);
  for (const std::string& v : filter.dtypes) out.add_dtypes(v);
  out.set_min_n(filter.min_n);
  out.set_max_n(filter.max_n);
  out.set_since_unix_ms(filter.since_unix_ms);
  out.set_until_unix_ms(filter.until_unix_ms);
  return out;
}

ResultFilter FromProto(const v1::ResultFilter& filter) {
  ResultFilter out;
  out.job_ids.assign(filter.job_ids().begin(), filter.job_ids().end());
  out.run_ids.assign(filter.run_ids().begin(), filter.run_ids().end());
  out.devices.assign(filter.devices().begin(), filter.devices().end());
  out.ops.assign(filter.ops().begin(), filter.ops().end());
  out.impls.assign(filter.impls().begin(), filter.impls().end());
  out.params.assign(filter.params().begin(), filter.params().end());
  out.dtypes.assign(filter.dtypes().begin(), filter.dtypes().end());
  out.min_n = filter.min_n();
  out.max_n = filter.max_n();
  out.since_unix_ms = filter.since_unix_ms();
  out.until_unix_ms = filter.until_unix_ms();
  return out;
}

v1::JobFilter ToProto(const JobFilter& filter) {
  v1::JobFilter out;
  for (const std::string& v : filter.run_ids) out.add_run_ids(v);
  for (const std::string& v : filter.devices) out.add_devices(v);
  for (const std::string& v : filter.states) out.add_states(v);
  out.set_since_unix_ms(filter.since_unix_ms);
  out.set_until_unix_ms(filter.until_unix_ms);
  return out;
}

JobFilter FromProto(const v1::JobFilter& filter) {
  JobFilter out;
  out.run_ids.assign(filter.run_ids().begin(), filter.run_ids().end());
  out.devices.assign(filter.devices().begin(), filter.devices().end());
  out.states.assign(filter.states().begin(), filter.states().end());
  out.since_unix_ms = filter.since_unix_ms();
  out.until_unix_ms = filter.until_unix_ms();
  return out;
}

PageRequest PageOf(const v1::ListResultsRequest& request) {
  return PageRequest{request.page_size(), request.page_token(), request.newest_first()};
}

PageRequest PageOf(const v1::ListJobsRequest& request) {
  return PageRequest{request.page_size(), request.page_token(), request.newest_first()};
}

ResultIndex IndexOf(const v1::Result& result) {
  const PointKey key = ResultKey(result);
  ResultIndex index;
  index.job_id = result.job_id();
  index.run_id = result.run_id();
  index.device = result.device();
  index.op = std::get<0>(key);
  index.impl = std::get<1>(key);
  index.params = std::get<2>(key);
  index.dtype = std::get<3>(key);
  index.n = std::get<4>(key);
  index.measured_unix_ms = result.measured_unix_ms();
  index.timing = result.timing();
  index.verified = result.verification().passed();
  return index;
}

v1::JobInfo ToProto(const JobRecord& job, const std::string& hostname) {
  v1::JobInfo out;
  out.set_job_id(job.id);
  out.set_run_id(job.submission.run_id);
  out.set_state(std::string(JobStateName(job.state)));
  out.set_device(job.device);
  out.set_client(job.submission.client);
  out.set_peer(job.peer);
  out.set_owner(job.owner);
  *out.mutable_request() = ToProto(job.submission);
  out.set_points_total(job.points_total);
  out.set_points_measured(job.points_measured);
  out.set_points_failed_verification(job.points_failed_verification);
  out.set_created_unix_ms(job.created_unix_ms);
  out.set_started_unix_ms(job.started_unix_ms);
  out.set_ended_unix_ms(job.ended_unix_ms);
  // Ended: its final status. Not ended but cancelled (Job::RecordAfterCancel):
  // the cancel reason, while the job stops.
  if (IsTerminal(job.state) || !job.status.ok()) {
    out.set_status_code(absl::StatusCodeToString(job.status.code()));
    out.set_status_message(std::string(job.status.message()));
  }
  out.set_hostname(hostname);
  return out;
}

v1::StoreStatus ToProto(const StoreHealth& health) {
  v1::StoreStatus out;
  out.set_state(health.state);
  out.set_detail(health.detail);
  out.set_path(health.path);
  out.set_results(health.results);
  out.set_jobs(health.jobs);
  out.set_bytes(health.bytes);
  out.set_results_not_stored(health.results_not_stored);
  out.set_retention(health.retention);
  out.set_schema_version(health.schema_version);
  return out;
}

v1::DeviceCeilings ToProto(const DeviceCeilings& c) {
  v1::DeviceCeilings out;
  out.set_bandwidth_bytes_per_s(c.bandwidth_bytes_per_s);
  for (const auto& [dtype, flops] : c.peak_flops) (*out.mutable_peak_flops_per_s())[dtype] = flops;
  out.set_clock_hz(c.clock_hz);
  out.set_clock_method(c.clock_method);
  out.set_method(c.method);
  out.set_measured_unix_ms(c.measured_unix_ms);
  out.set_seconds_spent(c.seconds_spent);
  for (const auto& [dtype, flops] : c.derived_peak_flops) {
    (*out.mutable_derived_peak_flops_per_s())[dtype] = flops;
  }
  out.set_derived_method(c.derived_method);
  out.set_latency_threshold_seconds(c.latency_threshold_seconds);
  for (const std::string& doubt : c.doubts) out.add_doubts(doubt);
  out.set_kernel_isa(c.kernel_isa);
  for (const auto& [dtype, flops] : c.kernel_isa_peak_flops) {
    (*out.mutable_kernel_isa_peak_flops_per_s())[dtype] = flops;
  }
  out.set_attempts(c.attempts);
  out.set_derived_bandwidth_bytes_per_s(c.derived_bandwidth_bytes_per_s);
  return out;
}

v1::OpInfo ToProto(const OpSpec& op) {
  v1::OpInfo info;
  info.set_name(op.name);
  info.set_description(op.description);
  info.set_flop_formula(op.FlopFormula());
  info.set_min_bytes_formula(op.MinBytesFormula());
  info.set_n_meaning(op.n_meaning);
  for (const auto& [backend, sizes] : op.default_sizes) (*info.mutable_default_sizes())[backend] = sizes;
  info.set_baseline(absl::StrCat(op.baseline.op, "/", op.baseline.impl));
  for (const ParamSpec& param : op.params) {
    v1::OpParam* p = info.add_params();
    p->set_name(param.name);
    p->set_description(param.description);
    for (int64_t value : param.allowed_values) p->add_allowed_values(value);
  }
  for (const ImplSpec& impl : op.impls) {
    v1::OpImpl* i = info.add_impls();
    i->set_backend(impl.backend);
    i->set_name(impl.name);
    i->set_description(impl.description);
    i->set_min_bytes_formula(impl.MinBytesFormula());
  }
  return info;
}

v1::DeviceInfo ToProto(const DeviceDescription& device, int64_t memory_limit_bytes, bool healthy,
                       const std::string& health_detail, int queued_jobs) {
  v1::DeviceInfo info;
  info.set_id(device.id);
  info.set_backend(device.backend);
  info.set_index(device.index);
  info.set_name(device.name);
  info.set_cores(device.cores);
  info.set_memory_bytes(device.memory_bytes);
  info.set_memory_limit_bytes(memory_limit_bytes);
  info.set_healthy(healthy);
  info.set_health_detail(health_detail);
  for (const auto& [key, value] : device.properties) (*info.mutable_properties())[key] = value;
  (*info.mutable_properties())["library"] = device.library;
  info.set_default_sizes(device.default_sizes);
  for (TimingMode mode : device.timing_modes) info.add_timing_modes(std::string(TimingModeName(mode)));
  info.set_queued_jobs(queued_jobs);
  return info;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace flopd
