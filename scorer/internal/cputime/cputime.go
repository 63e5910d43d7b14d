// Package cputime measures the calling thread's CPU time, so benchmarks on a
// shared, oversubscribed machine can report what an operation costs rather
// than how long it waited for a core.
package cputime

import (
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Thread returns the CPU time the current OS thread has used. Callers lock
// the goroutine to its thread (runtime.LockOSThread) around measurements.
func Thread() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Quantiles runs fn once per index and returns the p50 and p99 of its
// thread CPU time, less the median cost of the measurement itself.
func Quantiles(n int, fn func(i int)) (p50, p99 time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	empty := make([]time.Duration, 1000)
	for i := range empty {
		t0 := Thread()
		empty[i] = Thread() - t0
	}
	slices.Sort(empty)
	overhead := empty[len(empty)/2]
	lat := make([]time.Duration, n)
	for i := range lat {
		t0 := Thread()
		fn(i)
		lat[i] = max(0, Thread()-t0-overhead)
	}
	slices.Sort(lat)
	return lat[n/2], lat[n*99/100]
}
