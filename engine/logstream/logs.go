// Package logstream owns following containers' logs: streaming one
// container's logs since a time (stdout and stderr demultiplexed, split
// into lines, Docker's timestamp read off each), following it again after
// each restart from just after the last line shown, `devorch logs` over a
// listed set of containers (with --follow also the ones that start later),
// and the Attacher of an attached `up`, which also tracks every exit. Lines
// and exits go to a callback as event.Event values. It reads Docker through
// a narrow API (a container's inspect and logs) and the pool's event hubs
// (engine/dockerev); listing, which the engine owns, comes in as a
// function. It does not import the engine.
package logstream

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/engine/event"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/internal/labels"
)

// API is the part of the Docker client following logs uses: whether a
// container has a TTY, whether it stopped, and its logs. client.APIClient
// (a host's Client) and ctr.API satisfy it.
type API interface {
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
}

// Docker is what following reads of the pool beyond a container's own
// client: the hosts whose events say a container started, and the listing,
// which the engine owns and hands in.
type Docker struct {
	Hosts   []*hosts.Host
	Project string
	// List returns the project's containers of service on h, stopped ones
	// too.
	List func(ctx context.Context, h *hosts.Host, service string) ([]plan.Container, error)
	// Client is the API to reach c by; nil: its host's client. Tests set it.
	Client func(c *plan.Container) API
}

func (d Docker) client(c *plan.Container) API {
	if d.Client != nil {
		return d.Client(c)
	}
	return c.Host.Client
}

// Options are `devorch logs`'s choices.
type Options struct {
	Services   []string
	Follow     bool
	Tail       string // "all" or a number
	Since      string
	Until      string
	Timestamps bool
	// Index selects one replica (0: all).
	Index int
}

// Logs emits the log lines of cs, the containers the caller listed, as
// KindLog events to emit. With Follow it keeps going, also for the
// project's containers (of o.Services, no one-offs) that start later,
// until ctx ends.
func Logs(ctx context.Context, d Docker, cs []plan.Container, o Options, emit func(event.Event)) error {
	f := newFollower(d, o, emit)
	var hubs []*dockerev.Hub
	if o.Follow {
		for _, h := range d.Hosts {
			hubs = append(hubs, dockerev.Watch(ctx, h, d.Project))
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		if o.Index > 0 && c.Replica != o.Index {
			continue
		}
		f.start(gctx, g, c, "")
	}
	if o.Follow {
		want := map[string]bool{}
		for _, s := range o.Services {
			want[s] = true
		}
		for _, hb := range hubs {
			ch, unsub := hb.SubscribeAll(64)
			g.Go(func() error {
				defer unsub()
				followStarts(gctx, g, f, hb.Host(), ch, want)
				return nil
			})
		}
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// followStarts follows the logs of every container that starts on h, as
// its events on ch say (of the services in want, all when empty; no
// one-offs), until ctx ends.
func followStarts(ctx context.Context, g *errgroup.Group, f *follower, h *hosts.Host, ch <-chan events.Message, want map[string]bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ch:
			if m.Action != events.ActionStart {
				continue
			}
			svc := m.Actor.Attributes[labels.Service]
			if len(want) > 0 && !want[svc] || m.Actor.Attributes[labels.OneOff] == "true" {
				continue
			}
			cs, err := f.d.List(ctx, h, svc)
			if err != nil {
				continue
			}
			for _, c := range cs {
				if c.ID == m.Actor.ID {
					f.start(ctx, g, c, strconv.FormatInt(m.Time, 10))
				}
			}
		}
	}
}

// follower streams container logs into events, once per container run.
type follower struct {
	d         Docker
	opts      Options
	emit      func(event.Event)
	mu        sync.Mutex
	following map[string]bool
	// last is the Docker timestamp of the last line shown per container: a
	// stream started again (after a restart, or a second Add) resumes just
	// after it, so no line is lost or shown twice.
	last map[string]time.Time
}

func newFollower(d Docker, o Options, emit func(event.Event)) *follower {
	return &follower{d: d, opts: o, emit: emit, following: map[string]bool{}, last: map[string]time.Time{}}
}

// start follows (or reads) a container's logs from since ("" = from the
// start, or the caller's Since), or from just after the last line already
// shown; a container already being followed is left alone.
func (f *follower) start(ctx context.Context, g *errgroup.Group, c plan.Container, since string) {
	f.mu.Lock()
	if f.following[c.ID] {
		f.mu.Unlock()
		return
	}
	f.following[c.ID] = true
	last, resume := f.last[c.ID]
	f.mu.Unlock()
	o := f.opts
	lo := container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: o.Follow, Tail: o.Tail,
		Since: since, Until: o.Until, Timestamps: true,
	}
	switch {
	case resume:
		t := last.Add(time.Nanosecond)
		lo.Since, lo.Tail = fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), ""
	case lo.Since == "":
		lo.Since = o.Since
	}
	// Lines carry Docker's timestamp (always asked for, to know where a
	// stream stopped); it is shown only with Timestamps.
	line := func(stream, line string) {
		ts, text := SplitTimestamp(line)
		f.mu.Lock()
		if ts.After(f.last[c.ID]) {
			f.last[c.ID] = ts
		}
		f.mu.Unlock()
		if !o.Timestamps {
			line = text
		}
		f.emit(event.Event{Time: ts, Kind: event.KindLog, Resource: event.ResContainer, Name: c.Name, Host: c.HostName(), Service: c.Service, Replica: c.Replica, ID: c.ID, Stream: stream, Line: line})
	}
	api := f.d.client(&c)
	g.Go(func() error {
		defer func() {
			f.mu.Lock()
			delete(f.following, c.ID)
			f.mu.Unlock()
		}()
		return Stream(ctx, api, c, lo, line)
	})
}

// sinceNow is a Docker "since" value for the current second.
func sinceNow() string { return strconv.FormatInt(time.Now().Unix(), 10) }
