// Package benchutil reports benchmark throughput per CPU-second of the
// process, which stays meaningful on a shared, noisy 2-core machine where
// wall-clock rates swing with whatever else runs.
package benchutil

import (
	"syscall"
	"testing"
	"time"
)

// CPUTimer measures the process's user+system CPU time.
type CPUTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// StartCPU starts measuring; call it right after b.ResetTimer.
func StartCPU() CPUTimer { return CPUTimer{start: cpuNow()} }

// Report adds "<unit>/cpu-s" (items per CPU-second of the process) and the
// wall-clock "<unit>/s" to the benchmark output.
func (c CPUTimer) Report(b *testing.B, items float64, unit string) {
	cpu := cpuNow() - c.start
	if cpu > 0 {
		b.ReportMetric(items/cpu.Seconds(), unit+"/cpu-s")
	}
	b.ReportMetric(items/b.Elapsed().Seconds(), unit+"/s")
}

// Elapsed is the process CPU time used since c started.
func (c CPUTimer) Elapsed() time.Duration { return cpuNow() - c.start }
