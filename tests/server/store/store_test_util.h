// Results, jobs and temporary state directories for the store's tests.
#ifndef FLOPD_TESTS_SERVER_STORE_STORE_TEST_UTIL_H_
#define FLOPD_TESTS_SERVER_STORE_STORE_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/job_record.h"
#include "flopd/v1/flopd.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace flopd::testing {

// A fresh directory under /tmp, removed by the destructor.
class TempStateDir {
 public:
  TempStateDir() {
    char pattern[] = "/tmp/flopd-store-test-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempStateDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string db() const { return path_ + "/flopd.db"; }

 private:
  std::string path_;
};

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A plausible result: every indexed field set, `samples` raw samples.
inline v1::Result MakeResult(const std::string& job_id, const std::string& op,
                             const std::string& impl, int axis, const std::string& dtype, int64_t n,
                             int64_t measured_unix_ms, int samples = 20,
                             const std::string& run_id = "r-test",
                             const std::string& device = "cpu:0") {
  v1::Result r;
  r.set_job_id(job_id);
  r.set_run_id(run_id);
  r.set_hostname("testhost");
  r.set_device(device);
  r.set_device_name("fake device");
  r.set_backend("cpu");
  r.set_op(op);
  r.set_impl(impl);
  if (op == "outer") (*r.mutable_params())["axis"] = axis;
  r.set_dtype(dtype);
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes(3 * n * 4);
  r.set_timing("hot");
  r.set_samples(samples);
  r.set_iterations_per_sample(10);
  r.mutable_time()->set_median(1e-6 * n);
  r.set_relative_noise(0.004);
  r.set_stop_reason("noise_target_met");
  r.mutable_verification()->set_passed(true);
  r.mutable_verification()->set_tolerance(1e-5);
  for (int i = 0; i < samples; ++i) r.add_sample_seconds(1e-6 * n * (1 + 0.001 * i));
  r.set_measured_unix_ms(measured_unix_ms);
  r.set_flopd_version("test");
  return r;
}

inline std::string Deterministic(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

inline JobRecord MakeJob(const std::string& id, JobState state, int64_t created_unix_ms,
                         const std::string& run_id = "r-test") {
  JobRecord job;
  job.id = id;
  job.submission.request.ops = {"outer"};
  job.submission.request.sizes = "100,200";
  job.submission.client = "test client";
  job.submission.run_id = run_id;
  job.peer = "ipv4:127.0.0.1:1234";
  job.device = "cpu:0";
  job.state = state;
  job.points_total = 4;
  job.created_unix_ms = created_unix_ms;
  return job;
}

}  // namespace flopd::testing

#endif  // FLOPD_TESTS_SERVER_STORE_STORE_TEST_UTIL_H_
