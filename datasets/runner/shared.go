package runner

import (
	"context"
	"errors"
	"sync"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/trace"
)

// Shared lets runs that happen at the same time share one Source. The
// collector has one ring buffer and one reader, and loading its programs once
// per run would multiply the kernel-side cost of every event on the host; so
// one loop reads and every subscribed run sees every event (each keeps its own
// containers' events, as it does with a Source of its own).
type Shared struct {
	src    Source
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	mu   sync.RWMutex
	subs map[int]func(*trace.Event)
	next int
}

// Share starts reading src until Close.
func Share(ctx context.Context, src Source) *Shared {
	ctx, cancel := context.WithCancel(ctx)
	s := &Shared{src: src, cancel: cancel, done: make(chan struct{}), subs: map[int]func(*trace.Event){}}
	go func() {
		defer close(s.done)
		err := src.Run(ctx, s.dispatch)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		s.err = err
	}()
	return s
}

func (s *Shared) dispatch(e *trace.Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, fn := range s.subs {
		fn(e)
	}
}

// Run delivers events to fn until ctx is done, like a Source of its own.
// Once Run returns, fn is not called again.
func (s *Shared) Run(ctx context.Context, fn func(*trace.Event)) error {
	s.mu.Lock()
	id := s.next
	s.next++
	s.subs[id] = fn
	s.mu.Unlock()
	defer func() {
		// Taking the write lock waits for a dispatch in progress.
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		if s.err != nil {
			return s.err
		}
		return errors.New("shared capture stopped")
	}
}

// Stats passes on the underlying source's counters, when it has them.
func (s *Shared) Stats() collector.Stats {
	if st, ok := s.src.(statser); ok {
		return st.Stats()
	}
	return collector.Stats{}
}

// KeyForPID and Attributed pass on the underlying source's container
// knowledge: without them a run could neither recognise its containers'
// first events by cgroup nor wait for its containers to be named.
func (s *Shared) KeyForPID(pid int) (container.Key, error) {
	if k, ok := s.src.(keyer); ok {
		return k.KeyForPID(pid)
	}
	return container.Key{}, errors.New("the shared source does not map processes to cgroups")
}

// Attributed is true when the source cannot tell: there is nothing to wait for.
func (s *Shared) Attributed(pid int) bool {
	if a, ok := s.src.(attributor); ok {
		return a.Attributed(pid)
	}
	return true
}

// WatchSequence and UnwatchSequence pass on to the underlying source.
func (s *Shared) WatchSequence(k container.Key) error {
	if q, ok := s.src.(sequencer); ok {
		return q.WatchSequence(k)
	}
	return errNoSequence
}

func (s *Shared) UnwatchSequence(k container.Key) error {
	if q, ok := s.src.(sequencer); ok {
		return q.UnwatchSequence(k)
	}
	return errNoSequence
}

// Close stops reading and returns the read loop's error, if any.
func (s *Shared) Close() error {
	s.cancel()
	<-s.done
	return s.err
}
