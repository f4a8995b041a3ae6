// Package engine runs compose projects on a pool of Docker hosts: it reads
// what Docker has (by devorch's labels), has engine/plan work out the
// difference from what the compose model wants, applies it in dependency
// order with bounded parallelism, and reports every step as one stream of
// typed events. One file per verb: up.go, down.go, ps.go, logs.go, ...
package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/usage"
	"github.com/devorch/devorch/netctl"
)

// DefaultParallel bounds concurrent create/start/stop calls per run when
// neither --parallel nor DEVORCH_PARALLEL says otherwise.
const DefaultParallel = 16

// Engine runs projects on a pool of hosts and reports to a sink.
type Engine struct {
	Pool *hosts.Pool
	// Sink receives every event; nil discards them.
	Sink Sink
	// Parallel bounds concurrent Docker calls that create, start or stop.
	Parallel int
	// LockDir holds per-project lock files.
	LockDir string
	// Usage is the store of recorded usage (devorch tune's history); with
	// several hosts, placement counts a service that declares no
	// reservation by it (a soft reservation). Nil: none.
	Usage *usage.Store
	// lanes keeps containers from leaving one network together (shared by
	// copies of the engine; nil in engines that stop nothing).
	lanes *netctl.Lanes
	// subnetMu serialises giving a network another subnet (netctl.Pool's
	// Retry); shared by copies of the engine, nil in engines that create no
	// networks.
	subnetMu *sync.Mutex
	hooks    testHooks
}

// testHooks are set by tests only: each is called at a point where another
// process or the daemon may change the world, so that a test can change it
// there.
type testHooks struct {
	// planned is called with up's plan just before it is applied.
	planned func(*Plan)
	// subnetGiven is called when a network is about to be created on host
	// with the subnet this run allocated it.
	subnetGiven func(host, key, subnet string)
}

// New returns an engine for pool reporting to sink.
func New(pool *hosts.Pool, sink Sink) *Engine {
	e := &Engine{Pool: pool, Sink: sink, Parallel: DefaultParallel, lanes: &netctl.Lanes{}, subnetMu: &sync.Mutex{}}
	if v, err := strconv.Atoi(os.Getenv("DEVORCH_PARALLEL")); err == nil && v > 0 {
		e.Parallel = v
	}
	return e
}

func (e *Engine) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if e.Sink != nil {
		e.Sink(ev)
	}
}

func (e *Engine) progress(res, name, host, status string) {
	e.emit(Event{Kind: KindProgress, Resource: res, Name: name, Host: host, Status: status})
}

func (e *Engine) containerProgress(c *Container, status, detail string) {
	e.emit(Event{Kind: KindProgress, Resource: ResContainer, Name: c.Name, Host: c.HostName(), Service: c.Service, Replica: c.Replica, ID: c.ID, Status: status, Detail: detail})
}

func (e *Engine) warn(format string, args ...any) {
	e.emit(Event{Kind: KindWarning, Detail: fmt.Sprintf(format, args...)})
}

// sem bounds concurrent Docker calls. It wraps x/sync's weighted
// semaphore, which fails an acquire whose context is already done even when
// a slot is free: an interrupted run sends no new state-changing call.
type sem struct{ w *semaphore.Weighted }

func newSem(n int) sem {
	if n <= 0 {
		n = DefaultParallel
	}
	return sem{w: semaphore.NewWeighted(int64(n))}
}

func (s sem) acquire(ctx context.Context) error { return s.w.Acquire(ctx, 1) }

func (s sem) release() { s.w.Release(1) }

// Acquire and Release let the container layer hold a slot (ctr.Slot).
func (s sem) Acquire(ctx context.Context) error { return s.acquire(ctx) }

func (s sem) Release() { s.release() }

// hostByName returns the pool's host, or an error naming it.
func (e *Engine) hostByName(name string) (*hosts.Host, error) {
	if h := e.Pool.Get(name); h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("host %q is not in the pool (hosts: %v)", name, e.Pool.Names())
}

// uncancelled is the context for a Docker call that changes state: once a
// create, start, stop or remove is sent it runs to completion even if the
// run is interrupted, so an interrupted devorch never leaves a call half
// done. Interruption is checked before each such call (by the semaphore),
// not during it.
func uncancelled(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}
