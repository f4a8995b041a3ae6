package tui

import (
	"fmt"

	"github.com/devorch/devorch/engine"
)

// The views' Swarm variants: a service has tasks on nodes, running and
// desired, and a rolling update; its tasks are not sampled.

// swarmHeader is the header's totals on a Swarm: tasks running of those
// desired, updates under way, nodes ready.
func (m *Model) swarmHeader(left string, _, ready, w int) string {
	running, desired, updating := 0, 0, 0
	for _, s := range m.services {
		running += s.Running
		desired += s.Scale
		if s.Update != "" {
			updating++
		}
	}
	totals := fmt.Sprintf("Swarm · %d services · %d/%d tasks running", len(m.serviceNames()), running, desired)
	if updating > 0 {
		totals += fmt.Sprintf(" · %d updating", updating)
	}
	totals += fmt.Sprintf(" · nodes %d/%d", ready, len(m.hosts))
	right := m.th.HeaderInfo.Render(totals)
	gap := w - visibleWidth(left) - visibleWidth(right)
	if gap < 1 {
		return clip(left+"  "+right, w)
	}
	return left + fmt.Sprintf("%*s", gap, "") + right
}

// swarmDetailLines is the detail view of a task: its state and error,
// its service's tasks and update, then what it runs.
func (m *Model) swarmDetailLines(out *detailWriter, c *engine.ContainerState) {
	th := out.th
	info := m.svcInfo[c.Service]
	out.add(th.Bold.Render(c.Name) + th.Dim.Render(fmt.Sprintf(" · service %s · slot %d · %d/%d tasks running", c.Service, c.Replica, info.Running, info.Scale)))
	out.field("state", m.styledState(c)+m.stateExtra(c))
	if c.Status != "" {
		out.field("error", th.Bad.Render(oneLine(c.Status)))
	}
	if info.Update != "" {
		out.field("update", th.Warn.Render(info.Update))
	}
	node := c.HostName()
	if node == "" {
		node = th.Dim.Render("not assigned")
	}
	out.field("node", node)
	out.field("placement", c.Placement)
	m.detailImage(out, c)

	idx := m.byService[c.Service]
	out.section(fmt.Sprintf("Tasks of %s (%d)", c.Service, len(idx)))
	nameW, nodeW := 6, 4
	for _, i := range idx {
		nameW = max(nameW, visibleWidth(m.containers[i].Name))
		nodeW = max(nodeW, visibleWidth(m.containers[i].HostName()))
	}
	for _, i := range idx {
		t := &m.containers[i]
		node := t.HostName()
		if node == "" {
			node = "-"
		}
		line := "  " + fit(t.Name, nameW) + " " + fit(node, nodeW) + " " + fit(stateText(t), 10)
		switch {
		case t.Status != "":
			line += " " + th.Bad.Render(oneLine(t.Status))
		case t.State == "running" && !t.StartedAt.IsZero():
			line += " " + th.Dim.Render("up "+duration(m.now().Sub(t.StartedAt)))
		}
		out.add(line)
	}
	detailEnv(out, c)
	detailMounts(out, c)
	detailNetworks(out, c)
	out.section(fmt.Sprintf("Earlier tasks of slot %d (failed)", c.Replica))
	if len(c.Events) == 0 {
		out.add(th.Dim.Render("  none"))
	}
	for _, e := range c.Events {
		out.add("  " + e)
	}
}

// styledState is a state in its class's colour.
func (m *Model) styledState(c *engine.ContainerState) string {
	switch stateClass(c) {
	case 1:
		return m.th.Good.Render(stateText(c))
	case 2:
		return m.th.Warn.Render(stateText(c))
	case 3:
		return m.th.Bad.Render(stateText(c))
	}
	return m.th.Dim.Render(stateText(c))
}

// stateExtra is how long a container has run, or since when it stopped,
// and its restarts.
func (m *Model) stateExtra(c *engine.ContainerState) string {
	extra := fmt.Sprintf(" · restarts %d", c.RestartCount)
	if c.State == "running" && !c.StartedAt.IsZero() {
		return " · up " + duration(m.now().Sub(c.StartedAt)) + extra
	}
	if !c.FinishedAt.IsZero() {
		return " · finished " + age(m.now().Sub(c.FinishedAt)) + extra
	}
	return extra
}

// swarmHostLines shows each node: its role, availability and state, and
// bars of what its tasks reserve of its CPUs and memory (nothing is
// sampled on a Swarm), and its tasks.
func (m *Model) swarmHostLines(w int) []string {
	th := m.th
	var out []string
	if len(m.hosts) == 0 {
		return []string{th.Dim.Render(clip("  no node known yet", w))}
	}
	barW := clamp(w-48, 10, 60)
	for hi, h := range m.hosts {
		if hi > 0 {
			out = append(out, "")
		}
		var items []string
		var resCPU, resMem float64
		for i := range m.containers {
			c := &m.containers[i]
			if c.HostName() != h.Name {
				continue
			}
			items = append(items, c.Name+" "+stateText(c))
			switch c.State {
			case "complete", "failed", "shutdown", "rejected", "orphaned", "remove":
				continue // its reservation is released
			}
			resCPU += float64(c.ReservedNanoCPUs) / 1e9
			resMem += float64(c.ReservedMemory)
		}
		mark, style := "● ", th.Good
		switch {
		case !h.Reachable:
			mark, style = "✗ ", th.Bad
		case h.Availability != "" && h.Availability != "active":
			mark, style = "◐ ", th.Warn
		}
		head := style.Render(mark+h.Name) + th.Dim.Render("  "+h.Endpoint) +
			fmt.Sprintf("  %s · %s · %s · %d CPUs · %s · %s", h.Role, h.Availability, h.NodeState, h.CPUs, bytesLong(float64(h.Memory)), plural(len(items), "task"))
		out = append(out, clip(head, w))
		out = append(out, clip("  "+th.Label.Render("CPU ")+" "+m.bar(0, resCPU, float64(h.CPUs), barW)+
			fmt.Sprintf(" reserved %.2f of %d CPUs", resCPU, h.CPUs), w))
		out = append(out, clip("  "+th.Label.Render("MEM ")+" "+m.bar(0, resMem, float64(h.Memory), barW)+
			fmt.Sprintf(" reserved %s of %s", bytesLong(resMem), bytesLong(float64(h.Memory))), w))
		if len(items) == 0 {
			out = append(out, th.Dim.Render(clip("  no task of the project", w)))
			continue
		}
		prefix := fmt.Sprintf("  tasks (%d): ", len(items))
		out = append(out, wrapList("  "+th.Label.Render(fmt.Sprintf("tasks (%d): ", len(items))), len(prefix), items, w)...)
	}
	return out
}
