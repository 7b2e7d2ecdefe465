package daemon

import "time"

// The requeue policy of a cluster in progress (STARTING, SCALING, or waiting for its
// JobManager's REST API to answer), written once here. The next pass waits a tenth of the
// time since the last change (the phase began, or an instance started), at least
// progressPollMin and at most progressPollMax: RUNNING is seen within ~20 ms of being true
// right after containers start, and within a tenth of the wait later on. A JobManager slow
// to come up gets about 50 passes (one REST call each) in its first 10 s, then one a second
// (the resync and container events add their own passes); no hot loop.
const (
	progressPollMin   = 20 * time.Millisecond
	progressPollMax   = time.Second
	progressPollShare = 10
)

// progressRequeue is when the next pass of a cluster in progress comes; samePhase says
// whether this pass keeps the recorded phase (else the phase begins now).
func progressRequeue(in input, samePhase bool) time.Duration {
	since := in.Now
	if samePhase {
		since = in.PhaseSince
	}
	for _, inst := range allInstances(in.Obs) {
		// A start time after now is another clock's (a remote engine's): not used.
		if inst.StartedAt.After(since) && !inst.StartedAt.After(in.Now) {
			since = inst.StartedAt
		}
	}
	return min(max(in.Now.Sub(since)/progressPollShare, progressPollMin), progressPollMax)
}
