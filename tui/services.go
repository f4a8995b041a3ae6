package tui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
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
	// colTasks (running/desired) and colUpdate (the rolling update) take
	// CPU's and memory's place on a Swarm, whose tasks are not sampled.
	colTasks
	colUpdate
	numCols
)

var columnTitles = [numCols]string{"SERVICE", "#", "HOST", "STATE", "UPTIME", "PORTS", "CPU", "MEMORY", "RST", "IMAGE", "TASKS", "UPDATE"}

// sortColumns is the order `s` cycles through.
var sortColumns = []column{colService, colState, colCPU, colMem, colRestarts, colUptime, colHost}

// swarmSortColumns is sortColumns on a Swarm: nothing is sampled.
var swarmSortColumns = []column{colService, colState, colRestarts, colUptime, colHost}

// title is a column's title; on a Swarm the host is a node.
func (t *servicesTable) title(c column) string {
	if t.swarm && c == colHost {
		return "NODE"
	}
	return columnTitles[c]
}

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
	swarm     bool // the backend is a Swarm's: tasks, not containers

	need      [numCols]int // what each column's content needs (contentWidths)
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
	t.swarm = m.swarm
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
			if t.swarm {
				r.cells[colState] = "no tasks"
				t.swarmCells(&r, m.svcInfo[svc])
			}
			if matches(filter, svc, r.cells[colState], m.svcInfo[svc].Image) {
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
			if t.swarm {
				t.swarmCells(&r, m.svcInfo[svc])
			}
			if o := old[r.key]; o != nil && o.cells == r.cells && o.class == r.class {
				r.line, r.lineLayout, r.lineSel = o.line, o.lineLayout, o.lineSel
			}
			rows = append(rows, r)
		}
	}
	t.sortRows(rows)
	t.rows = rows
	t.need = t.contentWidths(m)
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

// swarmCells fills a Swarm row's own columns: its service's running and
// desired tasks and its update; tasks are not sampled.
func (t *servicesTable) swarmCells(r *svcRow, info ServiceInfo) {
	r.cells[colTasks] = fmt.Sprintf("%d/%d", info.Running, info.Scale)
	r.cells[colUpdate] = info.Update
	r.cells[colCPU], r.cells[colMem] = "", ""
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
		cycle := sortColumns
		if t.swarm {
			cycle = swarmSortColumns
		}
		for i, c := range cycle {
			if c == t.sortCol {
				t.sortCol = cycle[(i+1)%len(cycle)]
				break
			}
		}
		t.dirty = true
		t.layoutKey = ""
		m.setStatus(statusInfo, "sorted by "+strings.ToLower(t.title(t.sortCol)))
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

// Column bounds. The numbers keep a fixed width, so that a value changing
// (CPU 9.9% → 10.0%) never moves the table; names, images and ports are
// sized by their longest entry, within these bounds.
const (
	maxServiceW = 30
	maxHostW    = 12
	maxImageW   = 48
	maxPortsW   = 40
	maxUpdateW  = 40
	minUpdateW  = 12
	minServiceW = 8
	minImageW   = 12
	minPortsW   = 9
)

// fixedWidth is the width of a column that holds a number or a state.
func fixedWidth(c column) int {
	switch c {
	case colReplica:
		return 2
	case colState:
		return 11
	case colUptime, colCPU:
		return 6
	case colMem:
		return 11
	case colRestarts:
		return 3
	case colTasks:
		return 5
	}
	return 0
}

// contentWidths is what each column needs to show its title (with the sort
// arrow) and its longest entry, bounded. It reads every container, not only
// the filtered rows, so that typing a filter does not move the columns.
func (t *servicesTable) contentWidths(m *Model) [numCols]int {
	var w [numCols]int
	for c := range numCols {
		title := ansi.StringWidth(t.title(c))
		// Room for the sort arrow; always for the service name, the
		// first column, so that sorting does not shift the whole table.
		if c == t.sortCol || c == colService {
			title++
		}
		w[c] = max(fixedWidth(c), title)
	}
	grow := func(c column, s string) { w[c] = max(w[c], ansi.StringWidth(s)) }
	for _, svc := range m.serviceNames() {
		grow(colService, svc)
		if len(m.byService[svc]) == 0 {
			grow(colImage, m.svcInfo[svc].Image)
		}
	}
	for i := range m.containers {
		c := &m.containers[i]
		grow(colHost, c.HostName())
		grow(colImage, c.Image)
		grow(colPorts, ports(c.Ports))
	}
	for _, s := range m.services {
		grow(colUpdate, s.Update)
	}
	w[colUpdate] = min(w[colUpdate], maxUpdateW)
	w[colService] = min(w[colService], maxServiceW)
	w[colHost] = min(w[colHost], maxHostW)
	w[colImage] = min(w[colImage], maxImageW)
	w[colPorts] = min(w[colPorts], maxPortsW)
	return w
}

// columns lays the columns out for a width, each as wide as its content
// needs. When that is too wide, it gives up the least useful first:
// uptime, then the ports' full width, restarts, the image's and the
// service name's full width, the host, the ports, the image, memory, the
// replica number, CPU. Room left over goes back to the service name, then
// the image, then the ports.
func (t *servicesTable) columns(m *Model, w int) []colSpec {
	need := t.need
	key := fmt.Sprint(w, need, t.swarm)
	if key == t.layoutKey {
		return t.layout
	}
	order := []column{colService, colReplica, colHost, colState, colUptime, colImage, colPorts, colCPU, colMem, colRestarts}
	steps := func(hide func(column) func(), cut func(column, int) func()) []func() {
		return []func(){
			hide(colUptime), cut(colPorts, minPortsW), hide(colRestarts), cut(colImage, minImageW),
			cut(colService, minServiceW), hide(colHost), hide(colPorts), hide(colImage),
			hide(colMem), hide(colReplica), hide(colCPU),
		}
	}
	if t.swarm {
		order = []column{colService, colReplica, colHost, colState, colUptime, colImage, colPorts, colTasks, colUpdate, colRestarts}
		steps = func(hide func(column) func(), cut func(column, int) func()) []func() {
			return []func(){
				hide(colUptime), cut(colPorts, minPortsW), hide(colRestarts), cut(colUpdate, minUpdateW), cut(colImage, minImageW),
				cut(colService, minServiceW), hide(colPorts), hide(colImage), hide(colHost),
				hide(colUpdate), hide(colReplica), hide(colTasks),
			}
		}
	}
	width := need
	var hidden [numCols]bool
	total := func() int {
		n := 2 - 1 // the cursor, less the separator before the first column
		for _, c := range order {
			if !hidden[c] {
				n += width[c] + 1
			}
		}
		return n
	}
	cut := func(c column, to int) func() { return func() { width[c] = min(width[c], to) } }
	hide := func(c column) func() { return func() { hidden[c] = true } }
	for _, step := range steps(hide, cut) {
		if total() <= w {
			break
		}
		step()
	}
	for _, c := range []column{colService, colUpdate, colImage, colPorts} {
		if room := w - total(); room > 0 && !hidden[c] {
			width[c] += min(room, need[c]-width[c])
		}
	}
	if over := total() - w; over > 0 {
		// Narrower than the service name and the state: cut the name.
		width[colService] = max(1, width[colService]-over)
	}
	out := make([]colSpec, 0, len(order))
	for _, c := range order {
		if !hidden[c] {
			out = append(out, colSpec{col: c, width: width[c], right: fixedWidth(c) > 0 && c != colState})
		}
	}
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
		title := t.title(c.col)
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
