package main

// events.go: live updates. The Deployer's events mark hosts as changed; each
// browser's event stream (server-sent events) sends the changed rows and the
// counters, read afresh from the Deployer, so a slow browser skips
// intermediate states instead of slowing the Deployer down.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// broker tells the event streams which hosts changed.
type broker struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	done   chan struct{}
	closed bool
}

// subscriber is one event stream.
type subscriber struct {
	mu    sync.Mutex
	dirty map[string]bool
	all   bool
	wake  chan struct{}
}

func newBroker() *broker {
	return &broker{subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
}

// publish marks the host of key as changed for every stream.
func (b *broker) publish(key string) {
	b.each(func(s *subscriber) { s.dirty[key] = true })
}

// publishAll marks every host as changed (a new Deployer).
func (b *broker) publishAll() {
	b.each(func(s *subscriber) { s.all = true })
}

func (b *broker) each(mark func(*subscriber)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.mu.Lock()
		mark(s)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// subscribe returns a new stream's subscriber; nil once the broker is closed.
func (b *broker) subscribe() *subscriber {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	s := &subscriber{dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
	b.subs[s] = struct{}{}
	return s
}

func (b *broker) unsubscribe(s *subscriber) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

// close ends every stream.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

// take returns the changed keys (all: every host) and clears them.
func (s *subscriber) take() (keys []string, all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.dirty {
		keys = append(keys, k)
	}
	clear(s.dirty)
	all, s.all = s.all, false
	return keys, all
}

// heartbeat keeps idle streams open through proxies.
const heartbeat = 15 * time.Second

// serveEvents streams the table's changes: "host" events (a row, as
// rowJSON) and "counts" events (hosts per state).
func (c *console) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	sub := c.events.subscribe()
	if sub == nil {
		http.Error(w, "the console is stopping", http.StatusServiceUnavailable)
		return
	}
	defer c.events.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		return err == nil
	}
	// The page may be older than the stream: send everything once.
	sub.all = true
	sub.wake <- struct{}{}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.events.done:
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-sub.wake:
			keys, all := sub.take()
			v := c.view()
			if all {
				keys = keys[:0]
				for _, row := range v.Rows {
					keys = append(keys, row.Key)
				}
			}
			for _, k := range keys {
				if row, ok := v.row(k); ok {
					if !send("host", row) {
						return
					}
				}
			}
			if !send("counts", v.countMap()) {
				return
			}
			fl.Flush()
		}
	}
}
