package tui

import (
	"fmt"
	"math"
	"strings"

	"github.com/devorch/devorch/engine"
)

// hostsView shows each host: reachability, CPU and memory bars (reserved
// and used) and its containers.
type hostsView struct {
	scroll   scroller
	cacheKey string
	lines    []string
}

func (v *hostsView) render(m *Model, w, h int) []string {
	ck := fmt.Sprintf("%d/%d", m.version, w)
	if ck != v.cacheKey {
		v.cacheKey, v.lines = ck, m.hostLines(w)
	}
	return v.scroll.window(v.lines, h)
}

func (m *Model) hostLines(w int) []string {
	if m.swarm {
		return m.swarmHostLines(w)
	}
	th := m.th
	var out []string
	if len(m.hosts) == 0 {
		return []string{th.Dim.Render(clip("  no host known yet", w))}
	}
	barW := clamp(w-56, 10, 60)
	for hi, h := range m.hosts {
		if hi > 0 {
			out = append(out, "")
		}
		var cs []*engine.ContainerState
		var usedCPU, resCPU, usedMem, resMem float64
		for i := range m.containers {
			c := &m.containers[i]
			if c.HostName() != h.Name {
				continue
			}
			cs = append(cs, c)
			if !c.Running() {
				continue
			}
			if s, ok := lastSample(c); ok {
				usedCPU += s.CPUPercent / 100
				usedMem += float64(s.MemUsage)
			}
			info := m.svcInfo[c.Service]
			resCPU += info.ReservedCPUs
			resMem += float64(info.ReservedMemory)
		}
		var head string
		switch {
		case h.Checked.IsZero():
			head = th.Dim.Render("… "+h.Name) + th.Dim.Render("  "+h.Endpoint+"  checking")
		case h.Reachable:
			head = th.Good.Render("● "+h.Name) + th.Dim.Render("  "+h.Endpoint) + fmt.Sprintf("  reachable · Docker %s · %d CPUs · %s", h.Version, h.CPUs, bytesLong(float64(h.Memory)))
		default:
			head = th.Bad.Render("✗ "+h.Name) + th.Dim.Render("  "+h.Endpoint) + th.Bad.Render("  unreachable: "+oneLine(h.Err))
		}
		out = append(out, clip(head, w))
		out = append(out, clip("  "+th.Label.Render("CPU ")+" "+m.bar(usedCPU, resCPU, float64(h.CPUs), barW)+
			fmt.Sprintf(" used %.2f · reserved %.2f of %d CPUs", usedCPU, resCPU, h.CPUs), w))
		out = append(out, clip("  "+th.Label.Render("MEM ")+" "+m.bar(usedMem, resMem, float64(h.Memory), barW)+
			fmt.Sprintf(" used %s · reserved %s of %s", bytesLong(usedMem), bytesLong(resMem), bytesLong(float64(h.Memory))), w))
		if len(cs) == 0 {
			out = append(out, th.Dim.Render(clip("  no container of the project", w)))
			continue
		}
		items := make([]string, len(cs))
		for i, c := range cs {
			items[i] = replicaName(c.Service, c.Replica) + " " + stateText(c)
		}
		out = append(out, wrapList("  "+th.Label.Render(fmt.Sprintf("containers (%d): ", len(cs))), len(fmt.Sprintf("  containers (%d): ", len(cs))), items, w)...)
	}
	return out
}

// bar draws used (█) and reserved beyond used (▒) against a capacity.
func (m *Model) bar(used, reserved, capacity float64, w int) string {
	if capacity <= 0 {
		return m.th.BarFree.Render("[" + strings.Repeat("?", w) + "]")
	}
	cells := func(v float64) int { return clamp(int(math.Round(v/capacity*float64(w))), 0, w) }
	u := cells(used)
	r := cells(math.Max(used, reserved)) - u
	return "[" + m.th.BarUsed.Render(strings.Repeat("█", u)) + m.th.BarReserved.Render(strings.Repeat("▒", r)) +
		m.th.BarFree.Render(strings.Repeat("░", w-u-r)) + "]"
}

// wrapList lays items out after a prefix, comma-separated, over as many
// lines as the width needs, continuation lines indented.
func wrapList(prefix string, prefixW int, items []string, w int) []string {
	var out []string
	line, lw := prefix, prefixW
	indent := strings.Repeat(" ", prefixW)
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		iw := visibleWidth(it)
		if lw > prefixW && lw+1+iw > w {
			out = append(out, clip(line, w))
			line, lw = indent, prefixW
		}
		if lw > prefixW {
			line += " "
			lw++
		}
		line += it
		lw += iw
	}
	return append(out, clip(line, w))
}
