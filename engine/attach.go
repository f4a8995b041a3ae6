package engine

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/internal/labels"
)

// Attacher follows an attached `up`: it streams the logs of the project's
// containers (from their start for fresh ones, from now for kept ones,
// again after each restart) and reports every exit, until they have all
// stopped or one stops and the run aborts on it.
type Attacher struct {
	// KeepAlive keeps Wait going when every container has stopped (hot
	// reload recreates containers under it); it then ends only on ctx or
	// an abort.
	KeepAlive bool

	e       *Engine
	project string
	ctx     context.Context
	cancel  context.CancelFunc
	g       *errgroup.Group
	f       *follower
	hubs    map[string]*dockerev.Hub

	mu      sync.Mutex
	started bool                 // Wait began: new containers are followed
	watched map[string]Container // container ID → container
	exited  map[string]int       // container ID → exit code
	exits   chan exitNote
}

type exitNote struct {
	c    Container
	code int
}

// NewAttacher starts watching the project's containers. Call Add for each
// container to follow (Up's OnStart does), then Wait.
func (e *Engine) NewAttacher(ctx context.Context, project string) *Attacher {
	ctx, cancel := context.WithCancel(ctx)
	gctx := ctx
	a := &Attacher{
		e: e, project: project, ctx: ctx, cancel: cancel, g: &errgroup.Group{},
		f:       newFollower(e, LogsOptions{Follow: true}),
		hubs:    map[string]*dockerev.Hub{},
		watched: map[string]Container{},
		exited:  map[string]int{},
		exits:   make(chan exitNote, 64),
	}
	for _, h := range e.Pool.Hosts {
		hb := dockerev.Watch(gctx, h, project)
		a.hubs[h.Name] = hb
		ch, unsub := hb.SubscribeAll(256)
		go func() {
			defer unsub()
			for {
				select {
				case <-gctx.Done():
					return
				case m := <-ch:
					a.onEvent(hb, m)
				}
			}
		}()
	}
	return a
}

// ShowTimestamps prefixes every log line with Docker's timestamp (up
// --timestamps). Call it before Add.
func (a *Attacher) ShowTimestamps() { a.f.opts.Timestamps = true }

// Add follows a container's logs: from its start when fresh, else from now.
func (a *Attacher) Add(c Container, fresh bool) {
	a.mu.Lock()
	a.watched[c.ID] = c
	delete(a.exited, c.ID)
	a.mu.Unlock()
	since := ""
	if !fresh {
		since = sinceNow()
	}
	a.f.start(a.ctx, a.g, c, since)
}

func (a *Attacher) onEvent(hb *dockerev.Hub, m events.Message) {
	a.mu.Lock()
	c, ok := a.watched[m.Actor.ID]
	started := a.started
	a.mu.Unlock()
	if !ok {
		// A container of the project that appeared after the attach
		// (recreated by a rebuild or by another devorch): follow it.
		if !started || m.Action != events.ActionStart || m.Actor.Attributes[labels.OneOff] == "true" {
			return
		}
		cs, err := listHost(a.ctx, hb.Host(), a.project, listOptions{all: true, skipOneOffs: true, services: []string{m.Actor.Attributes[labels.Service]}})
		if err != nil {
			return
		}
		for _, nc := range cs {
			if nc.ID == m.Actor.ID {
				a.Add(nc, true)
			}
		}
		return
	}
	switch m.Action {
	case events.ActionStart:
		// Restarted by its policy or by hand: follow the new run.
		a.mu.Lock()
		delete(a.exited, c.ID)
		a.mu.Unlock()
		a.f.start(a.ctx, a.g, c, fmt.Sprintf("%d.%09d", m.TimeNano/1e9, m.TimeNano%1e9))
	case events.ActionDie:
		// The code is the event's: by the time of the inspect, a restart
		// policy may have started the container again (running, code 0).
		code, codeErr := strconv.Atoi(m.Actor.Attributes["exitCode"])
		insp, err := ctr.Inspect(a.ctx, c.Host.Client, c.ID)
		if err != nil {
			return
		}
		if codeErr != nil && insp.State != nil {
			code = insp.State.ExitCode
		}
		if insp.State != nil && (insp.State.Restarting || insp.State.Running) {
			a.e.emit(Event{Kind: KindExit, Resource: ResContainer, Name: c.Name, Host: c.HostName(), Service: c.Service, Replica: c.Replica, ID: c.ID, ExitCode: code, Status: "restarting"})
			return
		}
		a.markExited(c, code)
	case events.ActionDestroy:
		// Removed (replaced by a recreate, or by hand): no longer followed.
		a.mu.Lock()
		delete(a.watched, c.ID)
		delete(a.exited, c.ID)
		a.mu.Unlock()
		select {
		case a.exits <- exitNote{c, -1}:
		default:
		}
	}
}

// markExited records a container's exit and reports it once, whether the
// die event or Wait's first look saw it first (a container that exits
// before it is followed has its die event ignored).
func (a *Attacher) markExited(c Container, code int) {
	a.mu.Lock()
	if _, seen := a.exited[c.ID]; seen {
		a.mu.Unlock()
		return
	}
	a.exited[c.ID] = code
	a.mu.Unlock()
	a.e.emit(Event{Kind: KindExit, Resource: ResContainer, Name: c.Name, Host: c.HostName(), Service: c.Service, Replica: c.Replica, ID: c.ID, ExitCode: code, Status: "exited"})
	select {
	case a.exits <- exitNote{c, code}:
	default:
	}
}

// AttachResult says how an attached run ended.
type AttachResult struct {
	// First is the container that stopped first (with AbortOnExit).
	First    *Container
	ExitCode int
	// Codes holds each container's last exit code by service.
	Codes map[string]int
}

// Wait blocks until every followed container has stopped, until one stops
// when abortOnExit is set, or until ctx ends (interrupt). It does not stop
// anything: the caller decides.
func (a *Attacher) Wait(ctx context.Context, abortOnExit bool) AttachResult {
	// Containers that already stopped before their die event could be seen.
	a.mu.Lock()
	a.started = true
	ids := make([]string, 0, len(a.watched))
	for id := range a.watched {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	for _, id := range ids {
		a.mu.Lock()
		c := a.watched[id]
		_, done := a.exited[id]
		a.mu.Unlock()
		if done {
			continue
		}
		insp, err := ctr.Inspect(ctx, c.Host.Client, id)
		if err == nil && insp.State != nil && !insp.State.Running && !insp.State.Restarting && insp.State.Status != "created" {
			a.markExited(c, insp.State.ExitCode)
		}
	}
	res := AttachResult{Codes: map[string]int{}}
	for {
		a.mu.Lock()
		all := len(a.watched) > 0 && len(a.exited) >= len(a.watched) && !a.KeepAlive
		a.mu.Unlock()
		if all && !abortOnExit {
			break
		}
		select {
		case <-ctx.Done():
			a.collect(&res)
			return res
		case n := <-a.exits:
			if abortOnExit && res.First == nil && n.code >= 0 {
				c := n.c
				res.First, res.ExitCode = &c, n.code
				a.collect(&res)
				return res
			}
		case <-time.After(dockerev.SafetyRecheck):
		}
		if all {
			break
		}
	}
	a.collect(&res)
	return res
}

func (a *Attacher) collect(res *AttachResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, code := range a.exited {
		res.Codes[a.watched[id].Service] = code
	}
}

// ExitCodeOf returns the last exit code of a service's container, reading
// it from Docker (after the stack was stopped).
func (a *Attacher) ExitCodeOf(ctx context.Context, service string) (int, bool) {
	a.mu.Lock()
	var cs []Container
	for _, c := range a.watched {
		if c.Service == service {
			cs = append(cs, c)
		}
	}
	a.mu.Unlock()
	for _, c := range cs {
		insp, err := ctr.Inspect(ctx, c.Host.Client, c.ID)
		if err == nil && insp.State != nil && !insp.State.Running {
			return insp.State.ExitCode, true
		}
	}
	return 0, false
}

// Close stops following and waits for the log streams to drain.
func (a *Attacher) Close() {
	a.cancel()
	_ = a.g.Wait()
}

// Drain waits briefly for log streams of stopped containers to flush their
// last lines, then closes.
func (a *Attacher) Drain(d time.Duration) {
	done := make(chan struct{})
	go func() {
		_ = a.g.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
	a.Close()
}
