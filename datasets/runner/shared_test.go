package runner

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/trace"
)

// feed is a Source that emits the events sent on its channel.
type feed struct {
	ch  chan trace.Event
	err error
}

func (f *feed) Run(ctx context.Context, fn func(*trace.Event)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-f.ch:
			if !ok {
				return f.err
			}
			fn(&e)
		}
	}
}

func TestSharedFansOut(t *testing.T) {
	f := &feed{ch: make(chan trace.Event)}
	s := Share(context.Background(), f)
	defer s.Close()

	var a, b atomic.Int64
	actx, stopA := context.WithCancel(context.Background())
	bctx, stopB := context.WithCancel(context.Background())
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	// Only marked events count: unmarked ones are barriers, whose own
	// delivery may race with a cancel.
	count := func(n *atomic.Int64) func(*trace.Event) {
		return func(e *trace.Event) {
			if e.Host == "x" {
				n.Add(1)
			}
		}
	}
	go func() { aDone <- s.Run(actx, count(&a)) }()
	go func() { bDone <- s.Run(bctx, count(&b)) }()
	waitSubs(t, s, 2)

	for i := 0; i < 10; i++ {
		f.ch <- trace.Event{Host: "x"}
	}
	// The unbuffered send returns once the previous event is dispatched.
	f.ch <- trace.Event{}
	stopA()
	if err := <-aDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	// a has left: later events reach b only.
	for i := 0; i < 5; i++ {
		f.ch <- trace.Event{Host: "x"}
	}
	f.ch <- trace.Event{}
	stopB()
	<-bDone
	if a.Load() != 10 || b.Load() != 15 {
		t.Fatalf("a saw %d events (want 10), b saw %d (want 15)", a.Load(), b.Load())
	}
}

func TestSharedSourceFailure(t *testing.T) {
	boom := errors.New("ring buffer gone")
	f := &feed{ch: make(chan trace.Event), err: boom}
	s := Share(context.Background(), f)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), func(*trace.Event) {}) }()
	waitSubs(t, s, 1)
	close(f.ch)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the source's error", err)
	}
	if err := s.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want the source's error", err)
	}
}

func waitSubs(t *testing.T, s *Shared, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.RLock()
		got := len(s.subs)
		s.mu.RUnlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("subscribers never reached %d", n)
}

// A run on a shared capture must still learn its containers' cgroups and wait
// for them to be named, as on a capture of its own.
func TestSharedPassesContainerKnowledge(t *testing.T) {
	var _ keyer = (*Shared)(nil)
	var _ attributor = (*Shared)(nil)
	var _ statser = (*Shared)(nil)
	src := &knowing{feed: feed{ch: make(chan trace.Event)}}
	s := Share(context.Background(), src)
	defer s.Close()
	if k, err := s.KeyForPID(42); err != nil || k.V2 != 4200 {
		t.Fatalf("KeyForPID = %+v, %v; want the source's answer", k, err)
	}
	if s.Attributed(41) || !s.Attributed(42) {
		t.Fatal("Attributed does not pass on the source's answer")
	}
}

type knowing struct{ feed }

func (knowing) KeyForPID(pid int) (container.Key, error) {
	return container.Key{V2: uint64(pid) * 100}, nil
}
func (knowing) Attributed(pid int) bool { return pid == 42 }
