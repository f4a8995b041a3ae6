package monitor

import (
	"fmt"
	"time"

	"github.com/devorch/devorch/engine/usage"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/event"
)

// alertRule is one threshold rule, from x-devorch: {alerts: {cpu: "90%/30s"}}:
// percent of the service's limit (or of the host when it has none) held
// for the duration.
type alertRule struct {
	kind    string // cpu or memory
	percent float64
	hold    time.Duration
}

// parseAlertRules reads a service's rules with compose's parser (which
// Validate already ran on the model).
func parseAlertRules(service string, raw map[string]string) ([]alertRule, error) {
	rules, err := compose.ParseAlerts(raw)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", service, err)
	}
	out := make([]alertRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, alertRule{kind: r.Kind, percent: r.Percent, hold: r.Hold})
	}
	return out, nil
}

// raise records an alert and publishes it.
func (m *Monitor) raise(st *ContainerState, kind, msg string) {
	m.mu.Lock()
	// One open alert per container and kind.
	for _, a := range m.alerts {
		if !a.Acked && a.Container == st.Name && a.Kind == kind {
			m.mu.Unlock()
			return
		}
	}
	m.nextAlert++
	a := Alert{ID: m.nextAlert, Time: time.Now(), Service: st.Service, Container: st.Name, Kind: kind, Message: msg}
	m.alerts = append(m.alerts, a)
	m.mu.Unlock()
	m.publish(event.Event{Kind: event.KindAlert, Resource: event.ResContainer, Name: st.Name, Host: st.HostName(), Service: st.Service, Replica: st.Replica, ID: st.ID, Status: kind, Detail: msg})
}

// checkAlerts raises alerts for state transitions: turning unhealthy,
// restarting in a loop, OOM kills and non-zero exits.
func (m *Monitor) checkAlerts(old, st *ContainerState) {
	if old == nil {
		// Only alert on what happens while watching, except a container
		// found already unhealthy or OOM-killed.
		if st.Health == "unhealthy" && st.State == "running" {
			m.raise(st, "unhealthy", fmt.Sprintf("%s is unhealthy%s", st.Name, lastHealth(st.HealthLog)))
		}
		return
	}
	// Docker 20.10 reports a stopped container's health as unhealthy:
	// only a running container can turn unhealthy.
	if st.Health == "unhealthy" && old.Health != "unhealthy" && st.State == "running" {
		m.raise(st, "unhealthy", fmt.Sprintf("%s turned unhealthy%s", st.Name, lastHealth(st.HealthLog)))
	}
	if st.OOMKilled && (!old.OOMKilled || st.FinishedAt.After(old.FinishedAt)) {
		m.raise(st, "oom", fmt.Sprintf("%s was OOM-killed (memory limit %s)", st.Name, humanBytes(st.MemLimitSet)))
	}
	if st.RestartCount > old.RestartCount {
		m.mu.Lock()
		m.restarts[st.ID] = append(m.restarts[st.ID], time.Now())
		var recent []time.Time
		for _, t := range m.restarts[st.ID] {
			if time.Since(t) < 2*time.Minute {
				recent = append(recent, t)
			}
		}
		m.restarts[st.ID] = recent
		n := len(recent)
		m.mu.Unlock()
		if n >= 3 {
			m.raise(st, "restart-loop", fmt.Sprintf("%s is restarting in a loop: %d restarts in 2 minutes (last exit %d)", st.Name, n, st.ExitCode))
		}
	}
	stopped := st.State == "exited" || st.State == "dead"
	if stopped && st.ExitCode != 0 && (old.State != st.State || !st.FinishedAt.Equal(old.FinishedAt)) && !st.OOMKilled {
		m.raise(st, "exit", fmt.Sprintf("%s exited with code %d", st.Name, st.ExitCode))
	}
}

func lastHealth(log []HealthProbe) string {
	if len(log) == 0 {
		return ""
	}
	out := log[len(log)-1].Output
	if len(out) > 120 {
		out = out[:120] + "…"
	}
	if out == "" {
		return fmt.Sprintf(": last check exited %d", log[len(log)-1].ExitCode)
	}
	return ": " + out
}

// checkThresholds evaluates the service's rules on a new sample.
func (m *Monitor) checkThresholds(st *ContainerState, s Sample) {
	rules := m.rules[st.Service]
	for _, r := range rules {
		var pct float64
		var of string
		switch r.kind {
		case "cpu":
			limit := st.CPULimit
			of = fmt.Sprintf("its limit of %g CPUs", limit)
			if limit <= 0 {
				limit = float64(s.OnlineCPUs)
				of = fmt.Sprintf("the host's %d CPUs", s.OnlineCPUs)
			}
			if limit <= 0 {
				continue
			}
			pct = s.CPUPercent / limit
		case "memory":
			limit := st.MemLimitSet
			of = "its limit of " + humanBytes(limit)
			if limit == 0 {
				limit = s.MemLimit
				of = "the host's " + humanBytes(limit)
			}
			if limit == 0 {
				continue
			}
			pct = float64(s.MemUsage) / float64(limit) * 100
		}
		key := st.ID + "/" + r.kind
		m.mu.Lock()
		since, over := m.overSince[key]
		if pct < r.percent {
			delete(m.overSince, key)
			m.mu.Unlock()
			continue
		}
		if !over {
			m.overSince[key] = s.Time
			since = s.Time
		}
		m.mu.Unlock()
		if s.Time.Sub(since) >= r.hold {
			m.raise(st, r.kind, fmt.Sprintf("%s: %s at %.3g%% of %s for %s (rule %g%%/%s)", st.Name, r.kind, pct, of, s.Time.Sub(since).Round(time.Second), r.percent, r.hold))
		}
	}
}

// Alerts returns every alert not yet acknowledged (all with all=true).
func (m *Monitor) Alerts(all bool) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, a := range m.alerts {
		if all || !a.Acked {
			out = append(out, a)
		}
	}
	return out
}

// Ack acknowledges an alert (0: all of them).
func (m *Monitor) Ack(id int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.alerts {
		if id == 0 || m.alerts[i].ID == id {
			m.alerts[i].Acked = true
		}
	}
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// checkGrowth raises "memory-growth" when a container's memory grows
// steadily (a least-squares trend over its last readings, see
// usage.History.MemGrowth) and would reach its limit, or the host's
// memory without one, within Options.GrowthHorizon at that rate.
func (m *Monitor) checkGrowth(st *ContainerState, s Sample) {
	limit := st.MemLimitSet
	if limit == 0 {
		limit = s.MemLimit
	}
	horizon := m.o.GrowthHorizon
	if horizon <= 0 {
		horizon = 30 * time.Minute
	}
	m.mu.Lock()
	if m.growth == nil {
		m.growth = map[string]*usage.History{}
	}
	h := m.growth[st.ID]
	if h == nil {
		h = usage.NewHistory()
		m.growth[st.ID] = h
	}
	h.Add(s.Time, s.CPUPercent, s.MemUsage, s.MemLimit, s.Throttled)
	msg, grows := usage.GrowthWithin(h, limit, horizon)
	m.mu.Unlock()
	if grows {
		m.raise(st, "memory-growth", st.Name+": "+msg)
	}
}
