// Who besides the submitter learns of a job's events: the history recorder
// (server/history_recorder.h: the store and the watch hub) and anything else
// the daemon wires in. The scheduler tells every observer of every event of
// every job, whether or not the submitter is still listening, so a result is
// recorded even when its client has gone.
//
// Calls come from the thread that produced the event: Submit's caller for
// the acceptance, the device's worker for everything after it (or
// Scheduler::Cancel's caller for a queued job cancelled before it started),
// in the job's order, and each before the event reaches the job's channel:
// what a client receives has been observed first. An observer runs on the
// device's time, so it must be quick and must never wait for a reader.
//
// Thread-safety: an observer is called concurrently for jobs on different
// devices.
#ifndef FLOPD_SERVER_JOB_OBSERVER_H_
#define FLOPD_SERVER_JOB_OBSERVER_H_

#include "common/job.h"
#include "server/job.h"

namespace flopd {

class JobObserver {
 public:
  virtual ~JobObserver() = default;

  // The job was accepted and is about to be queued; `job.record()` is in
  // state queued. `accepted` is its kAccepted event.
  virtual void OnJobAccepted(const Job& job, const JobEvent& accepted) = 0;
  // A later event: started, each result, then finished or error. The job's
  // record already reflects it.
  virtual void OnJobEvent(const Job& job, const JobEvent& event) = 0;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_JOB_OBSERVER_H_
