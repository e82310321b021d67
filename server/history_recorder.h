// The history recorder: the JobObserver (server/job_observer.h) that makes
// every job and result last. For each result it converts the measurement
// once (the wire layer, exactly as the Run stream does), stores it (when
// flopd has a store), then publishes it to the watch hub with its row id;
// for every other event it updates the job's row. All of it happens before
// the event reaches the submitter, so whatever a client received is stored,
// whether or not the client is still there.
//
// A store that fails never stops the job: the failure is counted and
// reported by the store (Health()) and the result is still published.
//
// Thread-safe: called concurrently from every device's worker.
#ifndef FLOPD_SERVER_HISTORY_RECORDER_H_
#define FLOPD_SERVER_HISTORY_RECORDER_H_

#include <string>

#include "server/job_observer.h"
#include "server/result_hub.h"
#include "server/store/result_store.h"

namespace flopd {

class HistoryRecorder : public JobObserver {
 public:
  // `store` may be null (flopd runs without one); `hub` may not. Neither is
  // owned; both must outlive the recorder. `hostname` and `flopd_version`
  // go into every Result, as on the Run stream.
  HistoryRecorder(ResultStore* store, ResultHub* hub, std::string hostname,
                  std::string flopd_version);

  void OnJobAccepted(const Job& job, const JobEvent& accepted) override;
  void OnJobEvent(const Job& job, const JobEvent& event) override;

 private:
  ResultStore* const store_;
  ResultHub* const hub_;
  const std::string hostname_;
  const std::string flopd_version_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_HISTORY_RECORDER_H_
