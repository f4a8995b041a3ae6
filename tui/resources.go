package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// resourcesView is the resources view's state.
type resourcesView struct {
	list     cursorList
	cacheKey string
	lines    []string
	rows     map[string]string // rendered rows by usageKey
}

// resLayout is the resources table's column widths.
type resLayout struct {
	w, nw, cpuW, memW, netW, ioW, sw, ioSW int
}

// usageKey identifies what a service's row shows.
func (m *Model) usageKey(svc string, sel bool, l resLayout) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%t/%v", svc, sel, l)
	for _, i := range m.byService[svc] {
		c := &m.containers[i]
		fmt.Fprintf(&b, "/%s/%s/%d", c.ID, c.State, len(c.Samples))
		if s, ok := lastSample(c); ok {
			fmt.Fprintf(&b, "/%d", s.Time.UnixNano())
		}
	}
	return b.String()
}

func (m *Model) resourceRow(svc string, sel bool, l resLayout) string {
	th := m.th
	u := m.usage(svc)
	var b strings.Builder
	if sel {
		b.WriteString("› ")
	} else {
		b.WriteString("  ")
	}
	b.WriteString(fit(u.name, l.nw))
	if u.running == 0 {
		b.WriteString(th.Dim.Render(" " + fitRight("—", l.cpuW) + "  not running"))
		line := clip(b.String(), l.w)
		if sel {
			line = th.Selected.Render(fit(line, l.w))
		}
		return line
	}
	spark := func(vals []float64, width int, max float64) string {
		if width <= 0 {
			return ""
		}
		if sel {
			return " " + sparkline(vals, width, max) // the row's own style colours it
		}
		return " " + th.Spark.Render(sparkline(vals, width, max))
	}
	b.WriteString(" " + fitRight(percent(u.cpu), l.cpuW) + spark(u.cpuS, l.sw, 10))
	b.WriteString(" " + fitRight(bytesShort(u.mem), l.memW) + spark(u.memS, l.sw, 0))
	b.WriteString(" " + fit("↓"+rate(u.rates.NetRx)+" ↑"+rate(u.rates.NetTx), l.netW) + spark(u.netS, l.ioSW, 1024))
	b.WriteString(" " + fit("r"+rate(u.rates.BlockRead)+" w"+rate(u.rates.BlockWrite), l.ioW) + spark(u.io, l.ioSW, 1024))
	line := clip(b.String(), l.w)
	if sel {
		line = th.Selected.Render(line)
	}
	return line
}

// svcUsage is a service's resources, summed over its running replicas;
// the series are aligned on the newest sample.
type svcUsage struct {
	name                 string
	running              int
	cpu, mem             float64
	rates                engine.Rates
	cpuS, memS, netS, io []float64
}

func (m *Model) usage(svc string) svcUsage {
	u := svcUsage{name: svc}
	for _, i := range m.byService[svc] {
		c := &m.containers[i]
		if !c.Running() {
			continue
		}
		u.running++
		if s, ok := lastSample(c); ok {
			u.cpu += s.CPUPercent
			u.mem += float64(s.MemUsage)
		}
		u.rates.NetRx += c.Rates.NetRx
		u.rates.NetTx += c.Rates.NetTx
		u.rates.BlockRead += c.Rates.BlockRead
		u.rates.BlockWrite += c.Rates.BlockWrite
		n := len(c.Samples)
		cpu, mem := make([]float64, n), make([]float64, n)
		net, io := make([]float64, n), make([]float64, n)
		for j, s := range c.Samples {
			cpu[j], mem[j] = s.CPUPercent, float64(s.MemUsage)
			if j > 0 {
				p := c.Samples[j-1]
				if dt := s.Time.Sub(p.Time).Seconds(); dt > 0 {
					net[j] = (delta(p.NetRx, s.NetRx) + delta(p.NetTx, s.NetTx)) / dt
					io[j] = (delta(p.BlockRead, s.BlockRead) + delta(p.BlockWrite, s.BlockWrite)) / dt
				}
			}
		}
		u.cpuS, u.memS = addAligned(u.cpuS, cpu), addAligned(u.memS, mem)
		u.netS, u.io = addAligned(u.netS, net[min(1, n):]), addAligned(u.io, io[min(1, n):])
	}
	return u
}

func delta(a, b uint64) float64 {
	if b < a {
		return 0
	}
	return float64(b - a)
}

// addAligned adds two series aligned on their last values.
func addAligned(a, b []float64) []float64 {
	if len(b) > len(a) {
		a, b = b, a
	}
	out := append([]float64(nil), a...)
	off := len(a) - len(b)
	for i, v := range b {
		out[off+i] += v
	}
	return out
}

func (r *resourcesView) selected(m *Model) string {
	names := m.serviceNames()
	if r.list.cursor >= 0 && r.list.cursor < len(names) {
		return names[r.list.cursor]
	}
	return ""
}

func (r *resourcesView) visibleIDs(m *Model, h int) []string {
	names := m.serviceNames()
	r.list.fix(len(names), h-2)
	var ids []string
	for i := r.list.offset; i < len(names) && i < r.list.offset+h-2; i++ {
		for _, j := range m.byService[names[i]] {
			if m.containers[j].Running() {
				ids = append(ids, m.containers[j].ID)
			}
		}
	}
	return ids
}

func (r *resourcesView) update(k tea.KeyMsg, m *Model) tea.Cmd {
	if r.list.update(k, m.keys, len(m.serviceNames()), m.bodyHeight()-2) {
		return nil
	}
	if key.Matches(k, m.keys.Back) {
		return m.switchTo(viewServices)
	}
	cmd, _ := m.actionKey(k)
	return cmd
}

func (r *resourcesView) render(m *Model, w, h int) []string {
	if m.swarm {
		return []string{m.th.Dim.Render(clip("  a Swarm's tasks are not sampled: see the hosts view (6) for what they reserve of each node", w))}
	}
	names := m.serviceNames()
	r.list.fix(len(names), h-2)
	ck := fmt.Sprintf("%d/%d/%d/%d/%d", m.version, w, h, r.list.cursor, r.list.offset)
	if ck == r.cacheKey {
		return r.lines
	}
	th := m.th
	nw := 7
	for _, n := range names {
		nw = max(nw, len(n))
	}
	nw = min(nw, 20)
	const cpuW, memW, netW, ioW = 6, 7, 15, 15
	fixed := 2 + nw + 1 + cpuW + 1 + memW + 1 + netW + 1 + ioW + 1
	sw := (w - fixed - 4) / 4
	netSpark := true
	if sw < 6 {
		netSpark = false
		sw = (w - fixed - 2) / 2
	}
	sw = clamp(sw, 0, 40)
	ioSW := sw
	if !netSpark {
		ioSW = 0
	}
	cell := func(s string, width int) string {
		if width <= 0 {
			return ""
		}
		return " " + fit(s, width)
	}
	var head strings.Builder
	head.WriteString("  " + fit("SERVICE", nw))
	head.WriteString(" " + fitRight("CPU", cpuW) + cell("", sw))
	head.WriteString(" " + fitRight("MEM", memW) + cell("", sw))
	head.WriteString(" " + fit("NET ↓ ↑", netW) + cell("", ioSW))
	head.WriteString(" " + fit("BLOCK r w", ioW) + cell("", ioSW))
	lines := []string{th.ColumnHeader.Render(clip(head.String(), w))}

	span := ""
	for _, c := range m.containers {
		if n := len(c.Samples); n > 1 {
			d := c.Samples[n-1].Time.Sub(c.Samples[0].Time)
			span = fmt.Sprintf("sparklines: the last %s, one bar per sample (%d)", duration(d), n)
			break
		}
	}
	if span == "" {
		span = "sparklines fill in as samples arrive"
	}
	lines = append(lines, th.Dim.Render(clip("  "+span, w)))
	if len(r.rows) > 4*h {
		r.rows = nil // forget rows long off screen
	}
	if r.rows == nil {
		r.rows = map[string]string{}
	}
	lay := resLayout{w: w, nw: nw, cpuW: cpuW, memW: memW, netW: netW, ioW: ioW, sw: sw, ioSW: ioSW}
	for i := r.list.offset; i < len(names) && i < r.list.offset+h-2; i++ {
		sel := i == r.list.cursor
		// A row changes only when one of its containers got a sample or
		// changed state: the others come from the cache.
		rk := m.usageKey(names[i], sel, lay)
		line, ok := r.rows[rk]
		if !ok {
			line = m.resourceRow(names[i], sel, lay)
			r.rows[rk] = line
		}
		lines = append(lines, line)
	}
	r.cacheKey, r.lines = ck, lines
	return lines
}
