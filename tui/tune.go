package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine/usage"
)

// tallDetail is the detail view's height from which the recommendation
// gets a section of its own; below it, two lines beside the live numbers.
const tallDetail = 30

// tuneTimeout bounds writing the override file.
const tuneTimeout = time.Minute

type tuneDoneMsg struct {
	path string
	err  error
}

// enableTune turns T (and its help) on once the backend recommends for any
// service; it stays on, and costs nothing more, from then on.
func (m *Model) enableTune() {
	if m.keys.Tune.Enabled() {
		return
	}
	for _, s := range m.services {
		if _, ok := m.b.Recommendation(s.Name); ok {
			m.keys.Tune.SetEnabled(true)
			return
		}
	}
}

// writeTune writes the override for every service with enough history,
// whichever is selected: the file is the whole project's, and writing one
// service would drop the others' lines from it.
func (m *Model) writeTune() tea.Cmd {
	m.setStatus(statusProgress, "writing "+usage.DefaultOverride)
	ctx, b := m.ctx, m.b
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, tuneTimeout)
		defer cancel()
		var path string
		err := safely(func() (err error) {
			path, err = b.WriteTune(ctx, nil)
			return err
		})
		return tuneDoneMsg{path: path, err: err}
	}
}

func (m *Model) tuneDone(msg tuneDoneMsg) {
	if msg.err != nil {
		m.setStatus(statusError, "tune: "+oneLine(msg.err.Error()))
		return
	}
	m.setStatus(statusOK, fmt.Sprintf("wrote %s: add -f %s after your compose files", msg.path, filepath.Base(msg.path)))
}

// detailTune is the service's recommendation: a "Resources" section when
// the view is tall, else two lines under the live numbers. Warnings get a
// line each in both: they are why one looks.
func (m *Model) detailTune(out *detailWriter, h int) {
	r, ok := m.b.Recommendation(m.detail.service)
	if !ok {
		return
	}
	th := out.th
	based := fmt.Sprintf("%d readings over %s: CPU p95 %s, peak %s · memory p99 %s, peak %s",
		r.Samples, duration(r.Span), percent(r.CPUP95), percent(r.CPUPeak), bytesLong(float64(r.MemP99)), bytesLong(float64(r.MemPeak)))
	if !r.Enough {
		based = fmt.Sprintf("too little history: %d readings over %s (needs %d over %s)",
			r.Samples, duration(r.Span), usage.MinSamples, duration(usage.MinSpan))
	}
	if h < tallDetail {
		if r.Enough {
			out.field("recommend", fmt.Sprintf("reserve %s · limit %s", cpusMem(r.ReserveCPUs, r.ReserveMemory), cpusMem(r.LimitCPUs, r.LimitMemory))+
				th.Dim.Render(" · T to write"))
			based = fmt.Sprintf("%d readings over %s: CPU p95 %s, memory p99 %s",
				r.Samples, duration(r.Span), percent(r.CPUP95), bytesLong(float64(r.MemP99)))
			out.field("", th.Dim.Render(based))
		} else {
			out.field("recommend", th.Dim.Render(based))
		}
		for _, w := range r.Warnings {
			out.field("", th.Warn.Render("! "+w))
		}
		return
	}
	out.section("Resources (recommended from the usage history)")
	if r.Enough {
		out.field("reserve", cpusMem(r.ReserveCPUs, r.ReserveMemory))
		out.field("limit", cpusMem(r.LimitCPUs, r.LimitMemory))
	}
	out.field("based on", based)
	for _, w := range r.Warnings {
		out.field("warning", th.Warn.Render(w))
	}
	out.field("write", th.Dim.Render("T writes "+usage.DefaultOverride+" (every service with enough history)"))
}

// cpusMem is "0.25 CPUs, 96MiB", as deploy.resources would say it.
func cpusMem(cpus float64, mem uint64) string {
	return strconv.FormatFloat(cpus, 'f', -1, 64) + " CPUs, " + bytesLong(float64(mem))
}
