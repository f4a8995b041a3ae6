package tui

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
)

// column is a column of the services table.
type column int

const (
	colService column = iota
	colReplica
	colHost
	colState
	colUptime
	colPorts
	colCPU
	colMem
	colRestarts
	colImage
	numCols
)

var columnTitles = [numCols]string{"SERVICE", "#", "HOST", "STATE", "UPTIME", "PORTS", "CPU", "MEMORY", "RST", "IMAGE"}

// sortColumns is the order `s` cycles through.
var sortColumns = []column{colService, colState, colCPU, colMem, colRestarts, colUptime, colHost}

// svcRow is one row: a container, or a service that has none.
type svcRow struct {
	key      string
	service  string
	replica  int // 0: the service has no container
	id       string
	running  bool
	cells    [numCols]string
	class    int
	cpu      float64
	mem      uint64
	uptime   time.Duration
	restarts int

	// The rendered line, kept while the row, width and selection are the
	// same: a frame re-styles only rows that changed.
	line       string
	lineLayout string
	lineSel    bool
}

type colSpec struct {
	col   column
	width int
	right bool
}

// servicesTable is the services view's state.
type servicesTable struct {
	th        Theme
	rows      []svcRow
	list      cursorList
	selKey    string
	sortCol   column
	sortDesc  bool
	filter    textinput.Model
	filtering bool
	dirty     bool

	layoutKey string
	layout    []colSpec
	header    string
}

func newServicesTable(th Theme) servicesTable {
	ti := textinput.New()
	ti.Prompt = "filter: "
	ti.Placeholder = "service, host, state or image"
	ti.PromptStyle = th.Prompt
	ti.TextStyle = th.HeaderInfo
	ti.PlaceholderStyle = th.Dim
	ti.Cursor.Style = th.Selected
	ti.Cursor.SetMode(cursor.CursorStatic)
	return servicesTable{th: th, filter: ti, dirty: true}
}

// ensure rebuilds the rows when the snapshot, the sort or the filter
// changed since the last time.
func (t *servicesTable) ensure(m *Model) {
	if !t.dirty {
		return
	}
	t.dirty = false
	now := m.now()
	filter := strings.ToLower(strings.TrimSpace(t.filter.Value()))
	old := make(map[string]*svcRow, len(t.rows))
	for i := range t.rows {
		old[t.rows[i].key] = &t.rows[i]
	}
	rows := make([]svcRow, 0, len(m.containers)+4)
	for _, svc := range m.serviceNames() {
		idx := m.byService[svc]
		if len(idx) == 0 {
			r := svcRow{key: svc + "/0", service: svc}
			r.cells = [numCols]string{svc, "-", "", "not created", "", "", "", "", "", m.svcInfo[svc].Image}
			if matches(filter, svc, "not created", m.svcInfo[svc].Image) {
				rows = append(rows, r)
			}
			continue
		}
		for _, i := range idx {
			c := &m.containers[i]
			r := svcRow{key: svc + "/" + strconv.Itoa(c.Replica), service: svc, replica: c.Replica, id: c.ID,
				running: c.Running(), class: stateClass(c), restarts: c.RestartCount}
			state := stateText(c)
			if !matches(filter, svc, c.Name, c.HostName(), state, c.Image) {
				continue
			}
			up := ""
			if c.State == "running" && !c.StartedAt.IsZero() {
				r.uptime = now.Sub(c.StartedAt)
				up = duration(r.uptime)
			}
			cpu, mem := "", ""
			if s, ok := lastSample(c); ok && c.Running() {
				r.cpu, r.mem = s.CPUPercent, s.MemUsage
				cpu = percent(s.CPUPercent)
				mem = bytesShort(float64(s.MemUsage))
				if l := memLimit(c, s); l > 0 {
					mem += "/" + bytesShort(float64(l))
				}
			} else if c.Running() {
				cpu, mem = "…", "…"
			}
			r.cells = [numCols]string{svc, strconv.Itoa(c.Replica), c.HostName(), state, up, ports(c.Ports), cpu, mem, strconv.Itoa(c.RestartCount), c.Image}
			if o := old[r.key]; o != nil && o.cells == r.cells && o.class == r.class {
				r.line, r.lineLayout, r.lineSel = o.line, o.lineLayout, o.lineSel
			}
			rows = append(rows, r)
		}
	}
	t.sortRows(rows)
	t.rows = rows
	// The selection follows its row through re-sorts; when the row is
	// gone (its container was removed), the cursor stays where it was.
	found := false
	for i := range rows {
		if rows[i].key == t.selKey {
			t.list.cursor, found = i, true
			break
		}
	}
	if !found {
		t.list.cursor = clamp(t.list.cursor, 0, len(rows)-1)
		if len(rows) > 0 {
			t.selKey = rows[t.list.cursor].key
		}
	}
}

func matches(filter string, fields ...string) bool {
	if filter == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), filter) {
			return true
		}
	}
	return false
}

func stateRank(r *svcRow) int {
	// Problems first when sorting by state.
	return 3 - r.class
}

func (t *servicesTable) sortRows(rows []svcRow) {
	less := func(a, b *svcRow) int {
		switch t.sortCol {
		case colState:
			if d := stateRank(a) - stateRank(b); d != 0 {
				return d
			}
			return strings.Compare(a.cells[colState], b.cells[colState])
		case colCPU:
			return cmpFloat(b.cpu, a.cpu) // busiest first
		case colMem:
			return cmpFloat(float64(b.mem), float64(a.mem))
		case colRestarts:
			return b.restarts - a.restarts
		case colUptime:
			return cmpFloat(float64(b.uptime), float64(a.uptime))
		case colHost:
			return strings.Compare(a.cells[colHost], b.cells[colHost])
		}
		return 0
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		d := less(a, b)
		if t.sortDesc {
			d = -d
		}
		if d != 0 {
			return d < 0
		}
		if a.service != b.service {
			return a.service < b.service
		}
		return a.replica < b.replica
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (t *servicesTable) selected() *svcRow {
	if t.list.cursor >= 0 && t.list.cursor < len(t.rows) {
		return &t.rows[t.list.cursor]
	}
	return nil
}

// rowsHeight is how many rows fit under the column header, leaving room
// for the startup panel while the stack comes up.
func (t *servicesTable) rowsHeight(m *Model, h int) int {
	return h - 1 - t.panelHeight(m, h)
}

func (t *servicesTable) panelHeight(m *Model, h int) int {
	if !m.starting || len(m.progress) == 0 {
		return 0
	}
	p := len(m.progress) + 1
	if p > h/3 {
		p = h / 3
	}
	return p
}

// visibleIDs are the containers of the rows on screen.
func (t *servicesTable) visibleIDs(m *Model, h int) []string {
	t.ensure(m)
	rh := t.rowsHeight(m, h)
	t.list.fix(len(t.rows), rh)
	var ids []string
	for i := t.list.offset; i < len(t.rows) && i < t.list.offset+rh; i++ {
		if t.rows[i].running {
			ids = append(ids, t.rows[i].id)
		}
	}
	return ids
}

func (t *servicesTable) update(k tea.KeyMsg, m *Model) tea.Cmd {
	t.ensure(m)
	h := t.rowsHeight(m, m.bodyHeight())
	switch {
	case t.list.update(k, m.keys, len(t.rows), h):
		if r := t.selected(); r != nil {
			t.selKey = r.key
		}
		return nil
	case key.Matches(k, m.keys.Sort):
		for i, c := range sortColumns {
			if c == t.sortCol {
				t.sortCol = sortColumns[(i+1)%len(sortColumns)]
				break
			}
		}
		t.dirty = true
		t.layoutKey = ""
		m.setStatus(statusInfo, "sorted by "+strings.ToLower(columnTitles[t.sortCol]))
		return nil
	case key.Matches(k, m.keys.SortReverse):
		t.sortDesc = !t.sortDesc
		t.dirty = true
		t.layoutKey = ""
		return nil
	case key.Matches(k, m.keys.Filter):
		t.filtering = true
		return t.filter.Focus()
	case key.Matches(k, m.keys.Back):
		if t.filter.Value() != "" {
			t.filter.SetValue("")
			t.dirty = true
		}
		return nil
	}
	cmd, _ := m.actionKey(k)
	return cmd
}

// updateFilter edits the filter as it is typed; enter keeps it, esc
// clears it.
func (t *servicesTable) updateFilter(k tea.KeyMsg, m *Model) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Accept):
		t.filtering = false
		t.filter.Blur()
		return nil
	case key.Matches(k, m.keys.Back):
		t.filtering = false
		t.filter.Blur()
		t.filter.SetValue("")
		t.dirty = true
		return nil
	}
	var cmd tea.Cmd
	t.filter, cmd = t.filter.Update(k)
	t.dirty = true
	t.list.cursor, t.list.offset = 0, 0
	t.selKey = ""
	return cmd
}

// columns lays the columns out for a width: fixed ones first, then the
// service name, then the ports take what is left.
func (t *servicesTable) columns(m *Model, w int) []colSpec {
	hostW := 4
	for i := range m.hosts {
		hostW = max(hostW, len(m.hosts[i].Name))
	}
	svcW := len(columnTitles[colService]) + 1 // room for the sort arrow
	for _, s := range m.serviceNames() {
		svcW = max(svcW, len(s))
	}
	imgW := 0
	for i := range m.containers {
		imgW = max(imgW, len(m.containers[i].Image))
	}
	hostW, svcW, imgW = min(hostW, 12), min(svcW, 30), min(imgW, 40)
	key := strconv.Itoa(w) + "/" + strconv.Itoa(hostW) + "/" + strconv.Itoa(svcW) + "/" + strconv.Itoa(imgW)
	if key == t.layoutKey {
		return t.layout
	}
	// Fixed columns in display order; on a narrow terminal the least
	// important go first: uptime, restarts, host, memory, replica, CPU.
	fixed := []colSpec{{colReplica, 2, true}, {colHost, hostW, false}, {colState, 11, false}, {colUptime, 6, true},
		{colCPU, 6, true}, {colMem, 11, true}, {colRestarts, 3, true}}
	dropOrder := []column{colUptime, colRestarts, colHost, colMem, colReplica, colCPU}
	width := func() int {
		n := 2 + 8 // cursor and the narrowest service name
		for _, c := range fixed {
			n += c.width + 1
		}
		return n
	}
	for _, d := range dropOrder {
		if width() <= w {
			break
		}
		for i, c := range fixed {
			if c.col == d {
				fixed = append(fixed[:i], fixed[i+1:]...)
				break
			}
		}
	}
	rest := w - width() + 8 - 1 // for the service name, ports and image
	sw := clamp(svcW, 8, max(8, rest*6/10))
	pw := rest - sw
	if pw < 5 {
		// Too narrow for ports: give their room to the service name.
		sw, pw = max(1, rest+1), 0
	}
	out := []colSpec{{colService, sw, false}}
	var after []colSpec
	for _, c := range fixed {
		if c.col == colCPU || c.col == colMem || c.col == colRestarts {
			after = append(after, c)
		} else {
			out = append(out, c)
		}
	}
	// A wide terminal shows the image too, in what the ports do not need.
	if iw := min(imgW, pw-31); iw >= 12 {
		out = append(out, colSpec{colImage, iw, false})
		pw -= iw + 1
	}
	if pw > 0 {
		out = append(out, colSpec{colPorts, pw, false})
	}
	out = append(out, after...)
	t.layout, t.layoutKey = out, key
	t.header = t.renderHeader(out)
	return out
}

func (t *servicesTable) renderHeader(cols []colSpec) string {
	var b strings.Builder
	b.WriteString("  ")
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		title := columnTitles[c.col]
		if c.col == t.sortCol {
			if t.sortDesc {
				title += "▲"
			} else {
				title += "▼"
			}
		}
		if c.right {
			b.WriteString(fitRight(title, c.width))
		} else {
			b.WriteString(fit(title, c.width))
		}
	}
	return t.th.ColumnHeader.Render(b.String())
}

func (t *servicesTable) renderRow(r *svcRow, cols []colSpec, sel bool) string {
	if r.line != "" && r.lineLayout == t.layoutKey && r.lineSel == sel {
		return r.line
	}
	var b strings.Builder
	if sel {
		b.WriteString("› ")
	} else {
		b.WriteString("  ")
	}
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		var cell string
		if c.right {
			cell = fitRight(r.cells[c.col], c.width)
		} else {
			cell = fit(r.cells[c.col], c.width)
		}
		if c.col == colState && !sel {
			cell = t.classStyle(r.class, r.replica == 0).Render(cell)
		}
		b.WriteString(cell)
	}
	line := b.String()
	if sel {
		line = t.th.Selected.Render(line)
	}
	r.line, r.lineLayout, r.lineSel = line, t.layoutKey, sel
	return line
}

func (t *servicesTable) classStyle(class int, absent bool) interface{ Render(...string) string } {
	if absent {
		return t.th.Dim
	}
	switch class {
	case 1:
		return t.th.Good
	case 2:
		return t.th.Warn
	case 3:
		return t.th.Bad
	}
	return t.th.Dim
}

func (t *servicesTable) render(m *Model, w, h int) []string {
	t.ensure(m)
	cols := t.columns(m, w)
	panel := t.panelHeight(m, h)
	rh := h - 1 - panel
	t.list.fix(len(t.rows), rh)
	lines := make([]string, 0, h)
	lines = append(lines, clip(t.header, w))
	if len(t.rows) == 0 {
		msg := "no containers yet"
		if t.filter.Value() != "" {
			msg = "no service matches the filter " + strconv.Quote(t.filter.Value()) + " (esc clears it)"
		}
		lines = append(lines, t.th.Dim.Render(clip("  "+msg, w)))
	}
	for i := t.list.offset; i < len(t.rows) && i < t.list.offset+rh; i++ {
		lines = append(lines, t.renderRow(&t.rows[i], cols, i == t.list.cursor))
	}
	if panel > 0 {
		lines = padLines(lines, h-panel)
		lines = append(lines, t.th.Section.Render(clip("Starting the stack", w)))
		for _, p := range m.progress[len(m.progress)-(panel-1):] {
			lines = append(lines, t.th.Dim.Render(clip("  "+p, w)))
		}
	}
	return lines
}
