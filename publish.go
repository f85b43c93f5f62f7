package deployer

// The Deployer changes host records under its lock and hands what must
// leave the process to two small queues, each drained by one goroutine at a
// time, started when there is work and gone when there is none:
//
//   - storeWriter keeps the latest record of each host and writes what
//     accumulated in one batch (one sync of a FileStore), so hosts changing
//     state at once share commits; a caller that must not go on before its
//     record is durable (a deployment id, before anything is created on the
//     host) waits for its sequence number.
//   - outbox delivers events to Config.OnEvent and the logger one at a time,
//     in the order the changes were made.

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// storeWriter persists host records in batches.
type storeWriter struct {
	store Store

	mu      sync.Mutex
	pending map[string]HostRecord
	seq     sequence // of the records: done when durable
	running bool
	err     error // the first failure of the store
}

func newStoreWriter(s Store) *storeWriter {
	return &storeWriter{store: s, pending: map[string]HostRecord{}, seq: newSequence()}
}

// sequence numbers what a queue accepted, and says up to which number it
// is done. Its owner's mutex guards it.
type sequence struct {
	queued  uint64
	done    uint64
	changed chan struct{} // closed and replaced when done moves
}

func newSequence() sequence { return sequence{changed: make(chan struct{})} }

// next numbers one more item.
func (s *sequence) next() uint64 {
	s.queued++
	return s.queued
}

// advance marks every item up to upto done.
func (s *sequence) advance(upto uint64) {
	s.done = upto
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitSequence returns once s is done up to n (or failed says why not), or
// ctx ends.
func waitSequence(ctx context.Context, mu *sync.Mutex, s *sequence, n uint64, failed func() error) error {
	for {
		mu.Lock()
		done, ch := s.done >= n, s.changed
		err := failed()
		mu.Unlock()
		if done || err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// put queues rec and returns its sequence number.
func (w *storeWriter) put(rec HostRecord) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending[rec.Key] = rec.clone()
	n := w.seq.next()
	if !w.running {
		w.running = true
		go w.loop()
	}
	return n
}

// last returns the sequence number of the last record queued.
func (w *storeWriter) last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq.queued
}

// wait returns once every record up to seq is durable, with the store's
// first failure if it failed.
func (w *storeWriter) wait(ctx context.Context, seq uint64) error {
	return waitSequence(ctx, &w.mu, &w.seq, seq, func() error { return w.err })
}

func (w *storeWriter) loop() {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch, upto := w.pending, w.seq.queued
		w.pending = make(map[string]HostRecord, len(batch))
		w.mu.Unlock()

		recs := make([]HostRecord, 0, len(batch))
		for _, r := range batch {
			recs = append(recs, r)
		}
		err := w.write(recs)

		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
		}
		w.seq.advance(upto)
		w.mu.Unlock()
	}
}

func (w *storeWriter) write(recs []HostRecord) (err error) {
	defer func() {
		// A Store of the caller's that panics fails like one that errs:
		// the Deployer reports it instead of ending the process.
		if p := recover(); p != nil {
			err = fmt.Errorf("deployer: the store panicked: %v", p)
		}
	}()
	// The records of a Deployer must reach its store even while it is
	// being cancelled: they are what a restart resumes from.
	ctx := context.Background()
	if b, ok := w.store.(BatchStore); ok {
		return b.PutBatch(ctx, recs)
	}
	var first error
	for _, r := range recs {
		if err := w.store.Put(ctx, r); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// outbox delivers events in order.
type outbox struct {
	deliver func(Event)

	mu      sync.Mutex
	queue   []Event
	seq     sequence // of the events: done when delivered
	running bool
}

func newOutbox(deliver func(Event)) *outbox {
	return &outbox{deliver: deliver, seq: newSequence()}
}

// push queues ev and returns its sequence number.
func (o *outbox) push(ev Event) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queue = append(o.queue, ev)
	n := o.seq.next()
	if !o.running {
		o.running = true
		go o.loop()
	}
	return n
}

func (o *outbox) last() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq.queued
}

// wait returns once every event up to seq was delivered.
func (o *outbox) wait(ctx context.Context, seq uint64) error {
	return waitSequence(ctx, &o.mu, &o.seq, seq, func() error { return nil })
}

func (o *outbox) loop() {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		batch := o.queue
		o.queue = nil
		o.mu.Unlock()
		for _, ev := range batch {
			o.deliver(ev)
		}
		o.mu.Lock()
		o.seq.advance(o.seq.done + uint64(len(batch)))
		o.mu.Unlock()
	}
}

// logEvent writes ev as one slog line, the host as an attribute, never a
// secret. Progress goes at debug level.
func logEvent(l *slog.Logger, ev Event) {
	attrs := []any{slog.String("host", ev.Host), slog.String("from", ev.From.String())}
	if ev.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", ev.Attempt))
	}
	if ev.Addr != "" {
		attrs = append(attrs, slog.String("addr", ev.Addr))
	}
	if ev.ExitCode != nil {
		attrs = append(attrs, slog.Uint64("exit_code", uint64(*ev.ExitCode)))
	}
	if ev.Skipped != "" {
		attrs = append(attrs, slog.String("skipped", string(ev.Skipped)))
	}
	if ev.Message != "" {
		attrs = append(attrs, slog.String("message", ev.Message))
	}
	if ev.Progress != nil {
		attrs = append(attrs, slog.String("phase", ev.Progress.Phase))
		if ev.Progress.Action != "" {
			attrs = append(attrs, slog.String("action", ev.Progress.Action))
		}
		if ev.Progress.Percent != nil {
			attrs = append(attrs, slog.Int("percent", *ev.Progress.Percent))
		}
	}
	if ev.Error != nil {
		attrs = append(attrs, slog.String("error", ev.Error.Message), slog.String("kind", ev.Error.Kind.Name()),
			slog.String("step", string(ev.Error.Step)), slog.String("solution", ev.Error.Solution))
		if r := ev.Error.Reason.Name(); r != "" {
			attrs = append(attrs, slog.String("reason", r))
		}
	}
	if ev.CleanupError != nil {
		attrs = append(attrs, slog.String("cleanup_error", ev.CleanupError.Error))
	}
	if !ev.NextAttempt.IsZero() {
		attrs = append(attrs, slog.Time("next_attempt", ev.NextAttempt))
	}
	level := slog.LevelInfo
	switch {
	case ev.Progress != nil && ev.From == ev.State:
		level = slog.LevelDebug
	case ev.State == Failed, ev.CleanupError != nil:
		level = slog.LevelWarn
	}
	l.Log(context.Background(), level, ev.State.String(), attrs...)
}
