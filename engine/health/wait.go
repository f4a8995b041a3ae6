package health

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/engine/dockerev"
)

// Events is a host's Docker event hub as a wait uses it; *dockerev.Hub
// satisfies it.
type Events interface {
	// Subscribe returns a channel that receives a token whenever the
	// container has an event, and a function to unsubscribe.
	Subscribe(id string) (<-chan struct{}, func())
	// Ready is closed once the event stream is connected.
	Ready() <-chan struct{}
	// Failed is why the event stream ended (nil while it runs).
	Failed() error
}

// Inspector inspects a container; client.APIClient satisfies it.
type Inspector interface {
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
}

// Exec runs cmd in container id until it exits and returns its exit code;
// timeout bounds the Docker calls.
type Exec func(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, error)

// Host is what a wait needs of the host a container runs on.
type Host struct {
	Name   string // named in the error when the container cannot be inspected
	Events Events
	API    Inspector
	// Exec runs a starting container's healthcheck early (see Wait); nil:
	// never, and Docker's own probes decide.
	Exec Exec
}

// Wait blocks until container id, named name, on h meets cond, or fails
// with a sentence saying why (exited, unhealthy, no healthcheck). It reads
// the container's state again on each of its events, and after
// dockerev.SafetyRecheck without one. Waiting for Healthy, it also runs the
// container's own healthcheck through h.Exec every start_interval (default
// 200 ms) until it first succeeds, and then returns: Docker's first probe
// comes one full interval after the start (engines before 25.0 have no
// start_interval: engine/enginecheck refuses the field there), so this is
// what lets a dependent start as soon as its dependency's check passes.
// Docker's events still report unhealthy and exits. DEVORCH_FAST_HEALTH=0
// turns the early probe off.
func Wait(ctx context.Context, h Host, id, name string, cond Condition) error {
	ch, unsub := h.Events.Subscribe(id)
	defer unsub()
	select {
	case <-h.Events.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	var probed <-chan struct{}
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	for {
		insp, err := h.API.ContainerInspect(ctx, id)
		if err != nil {
			// Named with its host: a host that went away shows here first
			// when a dependency's wait is what was running.
			return fmt.Errorf("container %s on host %q: %w", name, h.Name, err)
		}
		done, err := Met(insp, name, cond)
		if done || err != nil {
			return err
		}
		if err := h.Events.Failed(); err != nil {
			return err
		}
		// Only dependency gates probe early: --wait promises Docker's own
		// healthy status (what ps shows afterwards).
		if probed == nil && cond == Healthy {
			probed = startProbe(pctx, h.Exec, insp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-probed:
			return nil
		case <-time.After(dockerev.SafetyRecheck):
		}
	}
}

// defaultProbeEvery is how often devorch runs a starting container's own
// healthcheck when the file sets no start_interval.
const defaultProbeEvery = 200 * time.Millisecond

// startProbe runs a starting container's own healthcheck command through
// exec, every start_interval (default 200 ms), until it first succeeds,
// and then closes the returned channel (see Wait). It returns nil when
// there is no check to run.
func startProbe(ctx context.Context, exec Exec, insp container.InspectResponse) <-chan struct{} {
	if exec == nil || os.Getenv("DEVORCH_FAST_HEALTH") == "0" || insp.Config == nil || insp.Config.Healthcheck == nil || insp.State == nil || insp.State.Health == nil {
		return nil
	}
	hc := insp.Config.Healthcheck
	var cmd []string
	switch {
	case len(hc.Test) >= 2 && hc.Test[0] == "CMD":
		cmd = hc.Test[1:]
	case len(hc.Test) == 2 && hc.Test[0] == "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", hc.Test[1]}
	default:
		return nil
	}
	every := defaultProbeEvery
	if hc.StartInterval > 0 {
		every = hc.StartInterval
	}
	timeout := hc.Timeout
	if timeout <= 0 || timeout > 5*time.Second {
		timeout = 5 * time.Second
	}
	ok := make(chan struct{})
	go func() {
		for {
			code, err := exec(ctx, insp.ID, cmd, timeout)
			if err == nil && code == 0 {
				close(ok)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return ok
}
