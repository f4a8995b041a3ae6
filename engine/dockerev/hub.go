// Package dockerev owns following a host's Docker container events for a
// project: one stream per host, fanned out to goroutines that wait on one
// container (a token per event) and to those that want every event (the
// monitor, attached runs, logs --follow). It knows Docker and the pool's
// hosts, nothing of the engine.
package dockerev

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/labels"
)

// SafetyRecheck bounds how long a wait trusts a hub's events alone: if an
// event were ever lost, the waiter reads the container's state again after
// this long.
const SafetyRecheck = 30 * time.Second

// Hub follows one host's Docker event stream for a project and wakes the
// goroutines waiting on a container whenever something happens to it. Waits
// for health, completion and exits react to these events: no polling.
type Hub struct {
	host  *hosts.Host
	mu    sync.Mutex
	subs  map[string]map[chan struct{}]bool
	all   map[chan events.Message]bool
	err   error
	done  chan struct{}
	ready chan struct{} // closed once the event stream is connected
}

// Watch subscribes to the host's container events for project. The
// subscription is live once Ready is closed (the engine's waits wait for it).
func Watch(ctx context.Context, h *hosts.Host, project string) *Hub {
	f := filters.NewArgs(filters.Arg("type", "container"))
	if project != "" {
		f.Add("label", labels.Project+"="+project)
	}
	hb := &Hub{host: h, subs: map[string]map[chan struct{}]bool{}, all: map[chan events.Message]bool{}, done: make(chan struct{}), ready: make(chan struct{})}
	go func() {
		defer close(hb.done)
		// Events returns once the daemon answered; a host that does not
		// answer must not block the caller, so this happens here.
		msgs, errs := h.Client.Events(ctx, events.ListOptions{Filters: f})
		close(hb.ready)
		for {
			select {
			case m := <-msgs:
				hb.dispatch(m)
			case err := <-errs:
				hb.mu.Lock()
				if err == nil {
					err = errors.New("event stream closed")
				}
				hb.err = fmt.Errorf("docker events on host %q: %w", h.Name, err)
				for _, set := range hb.subs {
					for ch := range set {
						select {
						case ch <- struct{}{}:
						default:
						}
					}
				}
				hb.mu.Unlock()
				return
			}
		}
	}()
	return hb
}

func (hb *Hub) dispatch(m events.Message) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for ch := range hb.subs[m.Actor.ID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	for ch := range hb.all {
		select {
		case ch <- m:
		default:
		}
	}
}

// Subscribe returns a channel that receives a token whenever the container
// has an event, and a function to unsubscribe.
func (hb *Hub) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	hb.mu.Lock()
	if hb.subs[id] == nil {
		hb.subs[id] = map[chan struct{}]bool{}
	}
	hb.subs[id][ch] = true
	hb.mu.Unlock()
	return ch, func() {
		hb.mu.Lock()
		delete(hb.subs[id], ch)
		if len(hb.subs[id]) == 0 {
			delete(hb.subs, id)
		}
		hb.mu.Unlock()
	}
}

// SubscribeAll returns every event of the project on this host.
func (hb *Hub) SubscribeAll(buffer int) (<-chan events.Message, func()) {
	ch := make(chan events.Message, buffer)
	hb.mu.Lock()
	hb.all[ch] = true
	hb.mu.Unlock()
	return ch, func() {
		hb.mu.Lock()
		delete(hb.all, ch)
		hb.mu.Unlock()
	}
}

// Failed is why the event stream ended (nil while it runs).
func (hb *Hub) Failed() error {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.err
}

// Host is the host whose events hb follows.
func (hb *Hub) Host() *hosts.Host { return hb.host }

// Done is closed when the event stream ends; Failed then says why.
func (hb *Hub) Done() <-chan struct{} { return hb.done }

// Ready is closed once the event stream is connected.
func (hb *Hub) Ready() <-chan struct{} { return hb.ready }
