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
	"log/slog"
	"sync"
)

// storeWriter persists host records in batches.
type storeWriter struct {
	store Store

	mu      sync.Mutex
	pending map[string]HostRecord
	queued  uint64 // sequence number of the last record queued
	written uint64 // every record up to this one is durable
	running bool
	changed chan struct{} // closed and replaced when written moves
	err     error         // the first failure of the store
}

func newStoreWriter(s Store) *storeWriter {
	return &storeWriter{store: s, pending: map[string]HostRecord{}, changed: make(chan struct{})}
}

// put queues rec and returns its sequence number.
func (w *storeWriter) put(rec HostRecord) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending[rec.Key] = rec.clone()
	w.queued++
	if !w.running {
		w.running = true
		go w.loop()
	}
	return w.queued
}

// last returns the sequence number of the last record queued.
func (w *storeWriter) last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

// wait returns once every record up to seq is durable, with the store's
// first failure if it failed.
func (w *storeWriter) wait(ctx context.Context, seq uint64) error {
	for {
		w.mu.Lock()
		done, ch, err := w.written >= seq, w.changed, w.err
		w.mu.Unlock()
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

// failure returns the store's first failure.
func (w *storeWriter) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *storeWriter) loop() {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch, upto := w.pending, w.queued
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
		w.written = upto
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

func (w *storeWriter) write(recs []HostRecord) error {
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

	mu        sync.Mutex
	queue     []Event
	queued    uint64
	delivered uint64
	running   bool
	changed   chan struct{}
}

func newOutbox(deliver func(Event)) *outbox {
	return &outbox{deliver: deliver, changed: make(chan struct{})}
}

// push queues ev and returns its sequence number.
func (o *outbox) push(ev Event) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queue = append(o.queue, ev)
	o.queued++
	if !o.running {
		o.running = true
		go o.loop()
	}
	return o.queued
}

func (o *outbox) last() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued
}

// wait returns once every event up to seq was delivered.
func (o *outbox) wait(ctx context.Context, seq uint64) error {
	for {
		o.mu.Lock()
		done, ch := o.delivered >= seq, o.changed
		o.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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
		o.delivered += uint64(len(batch))
		close(o.changed)
		o.changed = make(chan struct{})
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
