package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/devorch/devorch/engine"
)

// defaultLogWindow is how many lines the logs view keeps; older ones are
// still in the engine's per-container ring buffers.
const defaultLogWindow = 5000

// logLine is one line in the view's window, with its rendering cached.
type logLine struct {
	seq       uint64
	time      time.Time
	container string
	service   string
	replica   int
	stream    string
	text      string
	lower     string // lower-cased text, made on first search

	gen      int      // render generation the cache is for
	rendered []string // screen rows (more than one when wrapped)
}

// logRing is the bounded window: a ring of lines numbered by a sequence
// that never goes back, so positions survive eviction.
type logRing struct {
	buf         []logLine
	size        int
	start, n    int
	first, next uint64 // seq of the oldest line, and of the next one
}

func (r *logRing) push(l logLine) *logLine {
	l.seq = r.next
	r.next++
	if r.buf == nil {
		r.buf = make([]logLine, 0, r.size)
	}
	if len(r.buf) < r.size { // still growing: start is 0
		r.buf = append(r.buf, l)
		r.n++
		return &r.buf[len(r.buf)-1]
	}
	i := (r.start + r.n) % r.size
	if r.n == r.size {
		i = r.start
		r.start = (r.start + 1) % r.size
		r.first++
	} else {
		r.n++
	}
	r.buf[i] = l
	return &r.buf[i]
}

// truncate drops the lines from seq on; the next push gets seq again.
func (r *logRing) truncate(seq uint64) {
	seq = max(seq, r.first)
	if seq >= r.next {
		return
	}
	r.n -= int(r.next - seq)
	r.next = seq
	if len(r.buf) < r.size {
		r.buf = r.buf[:r.n]
	}
}

func (r *logRing) at(seq uint64) *logLine {
	if seq < r.first || seq >= r.next {
		return nil
	}
	return &r.buf[(r.start+int(seq-r.first))%len(r.buf)]
}

func (r *logRing) reset() {
	r.buf = r.buf[:0]
	r.start, r.n = 0, 0
	r.first = r.next
}

// logsView is the logs view's state.
type logsView struct {
	th      Theme
	ring    logRing
	service string // "" for all services

	follow     bool
	top        uint64 // seq of the first line on screen when not following
	shownTop   uint64 // what the last frame actually started with
	timestamps bool
	wrap       bool

	search    string
	lower     string
	matches   []uint64 // seqs of matching lines, ascending, within the ring
	cur       int      // index in matches of the current one, -1 for none
	only      bool     // show only matching lines
	input     textinput.Model
	searching bool

	gen, genWidth, prefixW int

	loading bool
	loadGen int
	pending []engine.Event // lines that arrived while loading
	// loadedUpTo is each container's newest line in the loaded snapshot,
	// until a newer line of it arrives: a line published before the
	// snapshot was read may be delivered after it, and is in it already.
	loadedUpTo map[string]time.Time

	backlog []logLine // this batch's backlog lines, merged at its end
}

func newLogsView(th Theme, window int) logsView {
	ti := textinput.New()
	ti.Prompt = "search: "
	ti.Placeholder = "text (case-insensitive)"
	ti.PromptStyle = th.Prompt
	ti.TextStyle = th.HeaderInfo
	ti.PlaceholderStyle = th.Dim
	ti.Cursor.Style = th.Selected
	ti.Cursor.SetMode(cursor.CursorStatic)
	return logsView{th: th, ring: logRing{size: window}, follow: true, cur: -1, input: ti, prefixW: 8}
}

type logsLoadedMsg struct {
	gen   int
	lines []engine.LogLine
}

func (v *logsView) setService(s string) {
	if s != v.service {
		v.service = s
		v.gen++
	}
}

// load re-reads the window from the engine's buffers (in a command: it
// sorts every buffered line) for the current service selection.
func (v *logsView) load(m *Model) tea.Cmd {
	v.loadGen++
	v.loading = true
	v.pending = v.pending[:0]
	var ids []string
	if v.service != "" {
		for _, i := range m.byService[v.service] {
			ids = append(ids, m.containers[i].ID)
		}
		if len(ids) == 0 {
			v.loaded(logsLoadedMsg{gen: v.loadGen})
			return nil
		}
	}
	names := map[string]bool{}
	for i := range m.containers {
		names[replicaName(m.containers[i].Service, m.containers[i].Replica)] = true
	}
	v.fitPrefix(names)
	gen, b, n := v.loadGen, m.b, v.ring.size
	return func() tea.Msg { return logsLoadedMsg{gen: gen, lines: b.Logs(ids, n)} }
}

func (v *logsView) fitPrefix(names map[string]bool) {
	w := 6
	for n := range names {
		w = max(w, ansi.StringWidth(n))
	}
	w = min(w, 24)
	if w != v.prefixW {
		v.prefixW = w
		v.gen++
	}
}

func (v *logsView) loaded(msg logsLoadedMsg) {
	if msg.gen != v.loadGen {
		return
	}
	v.ring.reset()
	last := map[string]time.Time{}
	for i := range msg.lines {
		l := &msg.lines[i]
		v.push(logLine{time: l.Time, container: l.Container, service: l.Service, replica: l.Replica, stream: l.Stream, text: sanitize(l.Text)})
		last[l.Container] = l.Time
	}
	v.loading = false
	// Lines that arrived while loading and are not in the snapshot.
	for i := range v.pending {
		ev := &v.pending[i]
		if t, ok := last[ev.Name]; ok && !ev.Time.After(t) {
			continue
		}
		v.ingest(ev)
	}
	v.pending = nil
	v.loadedUpTo = last
	v.mergeBacklog()
	v.rematch()
	v.follow = true
	v.gen++
}

// ingest adds one log event from the subscription. A live line goes at
// the end, in arrival order; a backlog line (written before devorch followed
// its container) waits for mergeBacklog at the end of the batch.
func (v *logsView) ingest(ev *engine.Event) {
	if v.loading {
		if len(v.pending) < v.ring.size {
			v.pending = append(v.pending, *ev)
		}
		return
	}
	if v.service != "" && ev.Service != v.service {
		return
	}
	if t, ok := v.loadedUpTo[ev.Name]; ok {
		if !ev.Time.After(t) {
			return
		}
		delete(v.loadedUpTo, ev.Name)
	}
	l := logLine{time: ev.Time, container: ev.Name, service: ev.Service, replica: ev.Replica, stream: ev.Stream, text: sanitize(ev.Line)}
	if ev.Backlog {
		if len(v.backlog) < v.ring.size {
			v.backlog = append(v.backlog, l)
		}
		return
	}
	v.push(l)
}

// mergeBacklog places the batch's backlog lines among the window's lines
// by Docker's timestamps. Each container's backlog arrives in one burst
// when devorch starts following it; appended as they come, a stack's first
// lines would show container after container, later lines of one above
// earlier lines of another. The lines from the first one a backlog line
// goes before are taken out and pushed back merged (both sequences keep
// their own order), so the cost is the part of the window that moves.
func (v *logsView) mergeBacklog() {
	if len(v.backlog) == 0 {
		return
	}
	bl := v.backlog
	v.backlog = nil
	sort.SliceStable(bl, func(i, j int) bool { return bl[i].time.Before(bl[j].time) })
	at := v.ring.next
	for at > v.ring.first && v.ring.at(at-1).time.After(bl[0].time) {
		at--
	}
	tail := make([]logLine, 0, int(v.ring.next-at))
	for seq := at; seq < v.ring.next; seq++ {
		tail = append(tail, *v.ring.at(seq))
	}
	// The matches and positions that point into the moved lines follow them.
	curSeq, hasCur := uint64(0), v.cur >= 0 && v.cur < len(v.matches) && v.matches[v.cur] >= at
	if hasCur {
		curSeq = v.matches[v.cur]
	}
	if i := sort.Search(len(v.matches), func(i int) bool { return v.matches[i] >= at }); i < len(v.matches) {
		v.matches = v.matches[:i]
		if v.cur >= i {
			v.cur = -1
		}
	}
	v.ring.truncate(at)
	// Where the paused screen's top, the last frame's top and the current
	// match went.
	track := [3]uint64{v.top, v.shownTop, curSeq}
	var moved [3]uint64
	var wasMoved [3]bool
	i, j := 0, 0
	for i < len(tail) || j < len(bl) {
		if j == len(bl) || i < len(tail) && !bl[j].time.Before(tail[i].time) {
			for k, seq := range track {
				if tail[i].seq == seq {
					moved[k], wasMoved[k] = v.ring.next, true
				}
			}
			v.push(tail[i])
			i++
		} else {
			v.push(bl[j])
			j++
		}
	}
	if wasMoved[0] {
		v.top = moved[0]
	}
	if wasMoved[1] {
		v.shownTop = moved[1]
	}
	v.top, v.shownTop = max(v.top, v.ring.first), max(v.shownTop, v.ring.first)
	if hasCur && wasMoved[2] {
		v.cur = sort.Search(len(v.matches), func(i int) bool { return v.matches[i] >= moved[2] })
		if v.cur >= len(v.matches) || v.matches[v.cur] != moved[2] {
			v.cur = -1
		}
	}
	v.gen++
}

func (v *logsView) push(l logLine) {
	evicted := v.ring.n == v.ring.size
	p := v.ring.push(l)
	if evicted {
		i := 0
		for i < len(v.matches) && v.matches[i] < v.ring.first {
			i++
		}
		if i > 0 {
			v.matches = v.matches[i:]
			if v.cur >= 0 {
				v.cur -= i
				if v.cur < 0 {
					v.cur = -1
				}
			}
		}
	}
	if v.lower != "" && strings.Contains(lineLower(p), v.lower) {
		v.matches = append(v.matches, p.seq)
	}
	if w := ansi.StringWidth(replicaName(l.service, l.replica)); w > v.prefixW && w <= 24 {
		v.prefixW = w
		v.gen++
	}
}

func lineLower(l *logLine) string {
	if l.lower == "" && l.text != "" {
		l.lower = strings.ToLower(l.text)
	}
	return l.lower
}

// rematch recomputes the matches over the whole window.
func (v *logsView) rematch() {
	v.matches = v.matches[:0]
	v.cur = -1
	if v.lower == "" {
		return
	}
	for s := v.ring.first; s < v.ring.next; s++ {
		if strings.Contains(lineLower(v.ring.at(s)), v.lower) {
			v.matches = append(v.matches, s)
		}
	}
}

func (v *logsView) onlyMatches() bool { return v.only && v.lower != "" }

// count, seqAt and indexOf address the lines shown: all of the window, or
// only the matching ones.
func (v *logsView) count() int {
	if v.onlyMatches() {
		return len(v.matches)
	}
	return v.ring.n
}

func (v *logsView) seqAt(i int) uint64 {
	if v.onlyMatches() {
		return v.matches[i]
	}
	return v.ring.first + uint64(i)
}

func (v *logsView) indexOf(seq uint64) int {
	if v.onlyMatches() {
		return sort.Search(len(v.matches), func(i int) bool { return v.matches[i] >= seq })
	}
	if seq < v.ring.first {
		return 0
	}
	return clamp(int(seq-v.ring.first), 0, v.ring.n)
}

func (v *logsView) scrollBy(d int) {
	n := v.count()
	if n == 0 {
		return
	}
	if v.follow {
		v.follow = false
		v.top = v.shownTop
	}
	i := clamp(v.indexOf(v.top)+d, 0, n-1)
	v.top = v.seqAt(i)
}

func (v *logsView) update(k tea.KeyMsg, m *Model) tea.Cmd {
	km := m.keys
	h := m.bodyHeight() - 1
	switch {
	case key.Matches(k, km.Up):
		v.scrollBy(-1)
	case key.Matches(k, km.Down):
		v.scrollBy(1)
	case key.Matches(k, km.PageUp):
		v.scrollBy(-h)
	case key.Matches(k, km.PageDown):
		v.scrollBy(h)
	case key.Matches(k, km.Top):
		v.follow = false
		if v.count() > 0 {
			v.top = v.seqAt(0)
		}
	case key.Matches(k, km.Bottom):
		v.follow = true
	case key.Matches(k, km.Follow):
		v.follow = !v.follow
		if !v.follow {
			v.top = v.shownTop
		}
	case key.Matches(k, km.Search):
		v.searching = true
		v.input.SetValue(v.search)
		v.input.CursorEnd()
		return v.input.Focus()
	case key.Matches(k, km.NextMatch):
		v.jump(m, true)
	case key.Matches(k, km.PrevMatch):
		v.jump(m, false)
	case key.Matches(k, km.OnlyMatches):
		if v.lower == "" {
			m.setStatus(statusWarn, "no search: press / to search first")
			return nil
		}
		v.only = !v.only
		v.gen++
		if v.follow {
			break
		}
		if v.count() > 0 {
			v.top = v.seqAt(clamp(v.indexOf(v.top), 0, v.count()-1))
		}
	case key.Matches(k, km.Timestamps):
		v.timestamps = !v.timestamps
		v.gen++
	case key.Matches(k, km.Wrap):
		v.wrap = !v.wrap
		v.gen++
	case key.Matches(k, km.CycleService):
		names := append([]string{""}, m.serviceNames()...)
		next := ""
		for i, n := range names {
			if n == v.service {
				next = names[(i+1)%len(names)]
				break
			}
		}
		v.setService(next)
		return v.load(m)
	case key.Matches(k, km.Back):
		if v.search != "" {
			v.setSearch("")
			return nil
		}
		return m.switchTo(viewServices)
	}
	return nil
}

func (v *logsView) setSearch(s string) {
	v.search = s
	v.lower = strings.ToLower(s)
	v.rematch()
	v.gen++
	if v.lower == "" {
		v.only = false
	}
}

func (v *logsView) updateSearch(k tea.KeyMsg, m *Model) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Accept):
		v.searching = false
		v.input.Blur()
		v.setSearch(strings.TrimSpace(v.input.Value()))
		if v.lower == "" {
			return nil
		}
		if len(v.matches) == 0 {
			m.setStatus(statusWarn, fmt.Sprintf("no line matches %q", v.search))
			return nil
		}
		if v.follow {
			// From the bottom, the newest match is the one to see first.
			v.cur = len(v.matches) - 1
			v.showMatch(m)
			m.setStatus(statusInfo, fmt.Sprintf("%s for %q: the newest shown; n/N move, m shows only them", plural(len(v.matches), "match"), v.search))
			return nil
		}
		v.jump(m, true)
		return nil
	case key.Matches(k, m.keys.Back):
		v.searching = false
		v.input.Blur()
		return nil
	}
	var cmd tea.Cmd
	v.input, cmd = v.input.Update(k)
	return cmd
}

// jump moves to the next (or previous) match from the current one, or
// from the screen's position, wrapping around.
func (v *logsView) jump(m *Model, forward bool) {
	if v.lower == "" {
		m.setStatus(statusWarn, "no search: press / to search")
		return
	}
	n := len(v.matches)
	if n == 0 {
		m.setStatus(statusWarn, fmt.Sprintf("no line matches %q", v.search))
		return
	}
	var i int
	wrapped := false
	if v.cur >= 0 && v.cur < n {
		if forward {
			i = v.cur + 1
		} else {
			i = v.cur - 1
		}
	} else {
		ref := v.shownTop
		if !v.follow {
			ref = v.top
		}
		i = sort.Search(n, func(j int) bool { return v.matches[j] >= ref })
		if !forward {
			i--
		}
	}
	if i >= n {
		i, wrapped = 0, true
	}
	if i < 0 {
		i, wrapped = n-1, true
	}
	v.cur = i
	v.showMatch(m)
	msg := fmt.Sprintf("match %d of %d for %q", i+1, n, v.search)
	if wrapped {
		msg += " (wrapped)"
	}
	m.setStatus(statusInfo, msg)
}

// showMatch scrolls so that the current match is a third of the way down.
func (v *logsView) showMatch(m *Model) {
	v.follow = false
	idx := v.indexOf(v.matches[v.cur])
	idx = clamp(idx-(m.bodyHeight()-1)/3, 0, v.count()-1)
	v.top = v.seqAt(idx)
	v.gen++
}

func (v *logsView) render(m *Model, w, h int) []string {
	if w != v.genWidth {
		v.genWidth = w
		v.gen++
	}
	lines := make([]string, 0, h)
	lines = append(lines, v.renderHeader(w))
	bh := h - 1
	switch {
	case v.loading:
		return append(lines, v.th.Dim.Render("  loading…"))
	case v.count() == 0:
		msg := "no log lines yet"
		if v.onlyMatches() {
			msg = fmt.Sprintf("no line matches %q", v.search)
		}
		return append(lines, v.th.Dim.Render(clip("  "+msg, w)))
	}
	n := v.count()
	var rows []string
	start := n
	if !v.follow {
		start = v.indexOf(v.top)
		for i := start; i < n && len(rows) < bh; i++ {
			rows = append(rows, v.rendered(v.ring.at(v.seqAt(i)), w)...)
		}
		if len(rows) < bh && start > 0 {
			// The end is on screen: fill it from the bottom instead.
			rows = rows[:0]
			start = n
		}
	}
	if start == n {
		var chunks [][]string
		count := 0
		i := n - 1
		for ; i >= 0 && count < bh; i-- {
			r := v.rendered(v.ring.at(v.seqAt(i)), w)
			chunks = append(chunks, r)
			count += len(r)
		}
		start = i + 1
		for j := len(chunks) - 1; j >= 0; j-- {
			rows = append(rows, chunks[j]...)
		}
		if len(rows) > bh {
			rows = rows[len(rows)-bh:]
		}
	}
	if n > 0 {
		v.shownTop = v.seqAt(clamp(start, 0, n-1))
	}
	if len(rows) > bh {
		rows = rows[:bh]
	}
	return append(lines, rows...)
}

func (v *logsView) renderHeader(w int) string {
	parts := []string{"all services"}
	if v.service != "" {
		parts[0] = "service " + v.service
	}
	if v.follow {
		parts = append(parts, "following")
	} else {
		parts = append(parts, "paused")
	}
	parts = append(parts, plural(v.ring.n, "line"))
	if v.search != "" {
		s := fmt.Sprintf("/%s", v.search)
		if v.cur >= 0 {
			s += fmt.Sprintf(" %d/%d", v.cur+1, len(v.matches))
		} else {
			s += " " + plural(len(v.matches), "match")
		}
		parts = append(parts, s)
		if v.only {
			parts = append(parts, "only matches")
		}
	}
	if v.timestamps {
		parts = append(parts, "timestamps")
	}
	if v.wrap {
		parts = append(parts, "wrap")
	}
	return v.th.ColumnHeader.Render(clip("Logs · "+strings.Join(parts, " · "), w))
}

// rendered is a line as screen rows, from the cache when nothing that
// changes its look has changed.
func (v *logsView) rendered(l *logLine, w int) []string {
	if l.gen == v.gen && l.rendered != nil {
		return l.rendered
	}
	gutter := ""
	if v.lower != "" {
		gutter = " "
		if v.cur >= 0 && v.cur < len(v.matches) && v.matches[v.cur] == l.seq {
			gutter = "▸"
		}
	}
	name := replicaName(l.service, l.replica)
	if l.service == "" {
		name = l.container
	}
	prefix := gutter
	plain := len(gutter)
	if v.timestamps {
		ts := l.time.Format("15:04:05.000") + " "
		prefix += v.th.Dim.Render(ts)
		plain += len(ts)
	}
	sep := v.th.Dim
	if l.stream == "stderr" {
		sep = v.th.Warn // stderr is marked by colour only; the text stays as written
	}
	prefix += v.th.serviceStyle(l.service).Render(fit(name, v.prefixW)) + sep.Render(" │ ")
	plain += v.prefixW + 3
	avail := w - plain
	var rows []string
	if avail < 4 {
		rows = []string{clip(prefix, w)}
	} else if !v.wrap || ansi.StringWidth(l.text) <= avail {
		rows = []string{prefix + v.highlight(clip(l.text, avail), l)}
	} else {
		cont := strings.Repeat(" ", plain-3) + sep.Render(" │ ")
		for i, part := range strings.Split(ansi.Hardwrap(l.text, avail, true), "\n") {
			p := prefix
			if i > 0 {
				p = cont
			}
			rows = append(rows, p+v.highlight(part, l))
		}
	}
	l.rendered, l.gen = rows, v.gen
	return rows
}

// highlight marks the search's occurrences in s.
func (v *logsView) highlight(s string, l *logLine) string {
	if v.lower == "" {
		return s
	}
	low := strings.ToLower(s)
	if len(low) != len(s) || !strings.Contains(low, v.lower) {
		return s
	}
	st := v.th.Match
	if v.cur >= 0 && v.cur < len(v.matches) && v.matches[v.cur] == l.seq {
		st = v.th.CurrentMatch
	}
	var b strings.Builder
	for {
		i := strings.Index(low, v.lower)
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := i + len(v.lower)
		b.WriteString(s[:i])
		b.WriteString(st.Render(s[i:j]))
		s, low = s[j:], low[j:]
	}
	return b.String()
}
