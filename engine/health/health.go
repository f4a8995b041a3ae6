// Package health owns what a wait on one container decides: the conditions
// a dependent waits for (started, healthy, completed successfully, and
// --wait's running or healthy), whether an inspected container meets one
// or never will, and the wait itself, woken by the host's Docker events,
// which runs a starting container's own healthcheck early so that a
// dependent need not wait for Docker's first probe. It knows neither the
// engine nor its hosts: a wait gets the host's event hub, its inspect call
// and an exec callback.
package health

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/internal/labels"
)

// Condition is what a dependent waits for.
type Condition int

const (
	Started Condition = iota
	Healthy
	Completed
	RunningOrHealthy // --wait: healthy when there is a healthcheck, else running
)

// ConditionOf is what a depends_on condition makes a dependent wait for.
func ConditionOf(dependsOnCondition string) Condition {
	switch dependsOnCondition {
	case types.ServiceConditionHealthy:
		return Healthy
	case types.ServiceConditionCompletedSuccessfully:
		return Completed
	}
	return Started
}

// Met reports whether the inspected container, named name, meets cond, or
// fails with a sentence saying why it never will (exited, unhealthy, no
// healthcheck).
func Met(insp container.InspectResponse, name string, cond Condition) (bool, error) {
	st := insp.State
	if st == nil {
		return false, nil
	}
	exited := !st.Running && !st.Restarting && (st.Status == "exited" || st.Status == "dead")
	switch cond {
	case Started:
		if st.Running || exited || st.Restarting {
			return true, nil
		}
	case Completed:
		if exited {
			if st.ExitCode != 0 {
				return false, fmt.Errorf("service %q didn't complete successfully: container %s exited with code %d", insp.Config.Labels[labels.Service], name, st.ExitCode)
			}
			return true, nil
		}
	case Healthy, RunningOrHealthy:
		if st.Health == nil {
			if cond == Healthy {
				return false, fmt.Errorf("container %s has no healthcheck configured", name)
			}
			if st.Running {
				return true, nil
			}
		} else {
			switch st.Health.Status {
			case container.Healthy:
				return true, nil
			case container.Unhealthy:
				return false, fmt.Errorf("container %s is unhealthy%s", name, lastProbe(st.Health))
			}
		}
		if exited {
			return false, fmt.Errorf("container %s exited (%d)", name, st.ExitCode)
		}
	}
	return false, nil
}

// lastProbe is what the last health probe said, for an unhealthy
// container's error: its output cut to 200 bytes, or its exit code.
func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	out := strings.TrimSpace(h.Log[len(h.Log)-1].Output)
	if out == "" {
		return fmt.Sprintf(": last check exited %d", h.Log[len(h.Log)-1].ExitCode)
	}
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	return ": " + out
}
