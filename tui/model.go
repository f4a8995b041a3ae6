package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// view is one screen of the TUI.
type view int

const (
	viewServices view = iota
	viewLogs
	viewResources
	viewAlerts
	viewImages
	viewHosts
	viewDetail
	viewHelp
)

// tabs are the views reachable with 1-6 and tab, in order.
var tabs = []view{viewServices, viewLogs, viewResources, viewAlerts, viewImages, viewHosts}

func (v view) String() string {
	return [...]string{"Services", "Logs", "Resources", "Alerts", "Images", "Hosts", "Detail", "Help"}[v]
}

// config is what a Model is made from (Run fills it from Options; tests
// set it directly).
type config struct {
	mode      Mode
	theme     Theme
	now       func() time.Time
	logWindow int
	upDone    <-chan error
	ctx       context.Context
}

// Model is the whole TUI state: one model, views that render from it, IO
// only in commands.
type Model struct {
	b      Backend
	ctx    context.Context
	cancel context.CancelFunc
	mode   Mode
	th     Theme
	keys   keyMap
	help   help.Model
	now    func() time.Time

	width, height int
	view, back    view

	events      <-chan engine.Event
	unsubscribe func()

	// Snapshot of the engine, re-read when events say it changed.
	services   []ServiceInfo
	svcInfo    map[string]ServiceInfo
	containers []engine.ContainerState
	byService  map[string][]int // indexes into containers, by replica
	hosts      []engine.HostState
	alerts     []engine.Alert
	version    int  // bumped on every snapshot change, keys render caches
	swarm      bool // the services are a Swarm's (ServiceInfo.Swarm)

	table  servicesTable
	logs   logsView
	detail detailView
	res    resourcesView
	alertV alertsView
	images imagesView
	hostV  hostsView
	helpV  scroller

	status     status
	confirm    *pendingAction
	quitPrompt bool
	watching   bool // hot reload is on
	logsOn     bool // the backend streams logs
	actions    map[int]*runningAction
	nextAction int

	starting bool     // ModeUp: the initial up is still running
	progress []string // recent progress lines (bounded), for the startup panel
	upDone   <-chan error

	wanted string        // the ids last passed to WantStats
	every  time.Duration // the interval last passed to StatsEvery
	result Result
}

func newModel(b Backend, c config) *Model {
	if c.now == nil {
		c.now = time.Now
	}
	if c.ctx == nil {
		c.ctx = context.Background()
	}
	if c.logWindow <= 0 {
		c.logWindow = defaultLogWindow
	}
	ctx, cancel := context.WithCancel(c.ctx)
	m := &Model{
		b: b, ctx: ctx, cancel: cancel, mode: c.mode, th: c.theme, keys: defaultKeys(), now: c.now,
		actions: map[int]*runningAction{}, upDone: c.upDone, starting: c.upDone != nil,
		// Until the terminal says its size (it never does when the output
		// is not a terminal), draw for the classic one.
		width: 80, height: 24,
	}
	m.help = help.New()
	m.help.Styles = m.th.Help
	m.table = newServicesTable(m.th)
	m.logs = newLogsView(m.th, c.logWindow)
	m.events, m.unsubscribe = b.Subscribe(subscribeBuffer)
	m.refreshAll()
	return m
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{waitEvents(m.events, batchMax, batchWindow), tick()}
	if m.upDone != nil {
		ch := m.upDone
		cmds = append(cmds, func() tea.Msg { return upDoneMsg{err: <-ch} })
	}
	return tea.Batch(cmds...)
}

// close releases what the model holds in the engine.
func (m *Model) close() {
	m.cancel()
	if m.unsubscribe != nil {
		m.unsubscribe()
		m.unsubscribe = nil
	}
	m.b.WantStats(nil)
}

// glanceStats is how often the services table's CPU and memory are read.
const glanceStats = 5 * time.Second

type tickMsg time.Time

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

type upDoneMsg struct{ err error }

// Update implements tea.Model. It never blocks: everything slow is a
// command whose result comes back as a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
	case eventsMsg:
		cmds = append(cmds, m.handleEvents(msg.events))
		if !msg.closed {
			cmds = append(cmds, waitEvents(m.events, batchMax, batchWindow))
		} else {
			m.setStatus(statusWarn, "the engine's event stream ended: the view no longer updates")
		}
	case tickMsg:
		m.table.dirty = true
		m.status.expire(m.now())
		cmds = append(cmds, tick())
	case tea.KeyMsg:
		cmds = append(cmds, m.handleKey(msg))
	case tea.InterruptMsg:
		cmds = append(cmds, m.interrupt())
	case upDoneMsg:
		m.starting = false
		if msg.err != nil {
			m.setStatus(statusError, "up: "+oneLine(msg.err.Error()))
		} else {
			m.setStatus(statusOK, "the stack is up")
		}
		m.refreshAll()
	case actionDoneMsg:
		cmds = append(cmds, m.actionDone(msg))
	case shellReadyMsg:
		cmds = append(cmds, m.shellReady(msg))
	case shellDoneMsg:
		m.shellDone(msg)
	case imagesMsg:
		m.images.loaded(msg)
	case logsLoadedMsg:
		m.logs.loaded(msg)
	case tuneDoneMsg:
		m.tuneDone(msg)
	}
	m.syncStats()
	return m, tea.Batch(cmds...)
}

// handleEvents applies one batch: log lines go to the logs view when it is
// shown, other events only mark what to re-read, once per batch.
func (m *Model) handleEvents(evs []engine.Event) tea.Cmd {
	var states, hostsChanged, alertsChanged, reloadImages bool
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case engine.KindLog:
			if ev.Resource == engine.ResImage {
				m.images.buildLine(ev)
				continue
			}
			if m.view == viewLogs {
				m.logs.ingest(ev)
			}
		case engine.KindState, engine.KindStats:
			states = true
		case engine.KindHost:
			hostsChanged = true
			if ev.Status == "unreachable" {
				m.setStatus(statusError, fmt.Sprintf("host %s is unreachable: %s", ev.Host, oneLine(ev.Detail)))
			} else if m.wasUnreachable(ev.Host) {
				m.setStatus(statusOK, fmt.Sprintf("host %s is reachable again", ev.Host))
			}
		case engine.KindAlert:
			alertsChanged = true
		case engine.KindProgress:
			if ev.Resource == engine.ResImage && m.images.progress(ev, m.now()) {
				reloadImages = true
			}
			m.noteProgress(ev)
		case engine.KindWarning:
			m.setStatus(statusWarn, oneLine(ev.Detail))
		case engine.KindWatch:
			m.noteWatch(ev)
		case engine.KindResync:
			states, hostsChanged, alertsChanged = true, true, true
		}
	}
	if m.view == viewLogs {
		m.logs.mergeBacklog()
	}
	if states {
		m.refreshContainers()
	}
	if hostsChanged {
		m.hosts = m.b.Hosts()
		m.version++
	}
	if alertsChanged {
		m.refreshAlerts()
	}
	if reloadImages && m.view == viewImages {
		return m.images.load(m.ctx, m.b)
	}
	return nil
}

// wasUnreachable says whether the last snapshot had the host down.
func (m *Model) wasUnreachable(host string) bool {
	for _, h := range m.hosts {
		if h.Name == host {
			return !h.Reachable && !h.Checked.IsZero()
		}
	}
	return false
}

func (m *Model) refreshAll() {
	m.refreshContainers()
	m.hosts = m.b.Hosts()
	m.refreshAlerts()
}

func (m *Model) refreshContainers() {
	m.containers = m.b.Containers()
	m.services = m.b.Services()
	m.svcInfo = make(map[string]ServiceInfo, len(m.services))
	m.swarm = false
	for _, s := range m.services {
		m.svcInfo[s.Name] = s
		m.swarm = m.swarm || s.Swarm
	}
	m.byService = map[string][]int{}
	for i := range m.containers {
		c := &m.containers[i]
		m.byService[c.Service] = append(m.byService[c.Service], i)
	}
	for _, idx := range m.byService {
		sort.SliceStable(idx, func(a, b int) bool { return m.containers[idx[a]].Replica < m.containers[idx[b]].Replica })
	}
	m.version++
	m.table.dirty = true
	m.enableTune()
}

func (m *Model) refreshAlerts() {
	m.alerts = m.b.Alerts(false)
	m.alertV.list.fix(len(m.alerts), max(1, m.bodyHeight()-1))
	m.version++
}

// serviceNames is every service, from the compose model and the
// containers, sorted.
func (m *Model) serviceNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range m.services {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s.Name)
		}
	}
	for name := range m.byService {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// container returns the container of a service's replica.
func (m *Model) container(service string, replica int) *engine.ContainerState {
	for _, i := range m.byService[service] {
		if m.containers[i].Replica == replica {
			return &m.containers[i]
		}
	}
	return nil
}

// syncStats asks the engine for the resources of what is on screen, and
// only that.
// syncLogs streams containers' logs only while the logs view is shown.
func (m *Model) syncLogs() {
	want := m.view == viewLogs
	if want != m.logsOn {
		m.logsOn = want
		m.b.WantLogs(want)
	}
}

func (m *Model) syncStats() {
	var ids []string
	switch m.view {
	case viewServices:
		ids = m.table.visibleIDs(m, m.bodyHeight())
	case viewResources:
		ids = m.res.visibleIDs(m, m.bodyHeight())
	case viewDetail:
		if c := m.container(m.detail.service, m.detail.replica); c != nil {
			ids = []string{c.ID}
		}
	case viewHosts:
		for i := range m.containers {
			if m.containers[i].Running() {
				ids = append(ids, m.containers[i].ID)
			}
		}
	}
	// The services table and the hosts view are a glance: sampled every
	// glanceStats; the resource and detail views' sparklines at the
	// monitor's rate. Each reading costs dockerd, containerd and the shim.
	every := time.Duration(0)
	if m.view == viewServices || m.view == viewHosts {
		every = glanceStats
	}
	if every != m.every {
		m.every = every
		m.b.StatsEvery(every)
	}
	sort.Strings(ids)
	k := strings.Join(ids, ",")
	if k == m.wanted {
		return
	}
	m.wanted = k
	m.b.WantStats(ids)
}

// switchTo shows a view, starting what it needs.
func (m *Model) switchTo(v view) tea.Cmd {
	if v == m.view {
		return nil
	}
	if v == viewDetail || v == viewHelp {
		if m.view != viewDetail && m.view != viewHelp {
			m.back = m.view
		}
	}
	m.view = v
	m.syncLogs()
	switch v {
	case viewLogs:
		return m.logs.load(m)
	case viewImages:
		return m.images.load(m.ctx, m.b)
	case viewAlerts:
		m.refreshAlerts()
	case viewHelp:
		m.helpV.offset = 0
	case viewDetail:
		m.detail.offset = 0
	}
	return nil
}

func (m *Model) handleKey(k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, m.keys.ForceQuit) {
		return m.interrupt()
	}
	if m.quitPrompt {
		switch {
		case key.Matches(k, m.keys.StopStack):
			m.result = Result{StopStack: true}
			return tea.Quit
		case key.Matches(k, m.keys.LeaveRunning):
			m.result = Result{}
			return tea.Quit
		case key.Matches(k, m.keys.Back), key.Matches(k, m.keys.Quit):
			m.quitPrompt = false
		}
		return nil
	}
	if m.confirm != nil {
		switch {
		case key.Matches(k, m.keys.Yes):
			a := *m.confirm
			m.confirm = nil
			return m.startAction(a)
		case key.Matches(k, m.keys.No):
			m.setStatus(statusInfo, "cancelled: "+m.confirm.describe())
			m.confirm = nil
		}
		return nil
	}
	if m.table.filtering && m.view == viewServices {
		return m.table.updateFilter(k, m)
	}
	if m.logs.searching && m.view == viewLogs {
		return m.logs.updateSearch(k, m)
	}
	switch {
	case key.Matches(k, m.keys.Watch):
		return m.toggleWatch()
	case key.Matches(k, m.keys.Tune):
		return m.writeTune()
	case key.Matches(k, m.keys.Quit):
		if m.mode == ModeUp {
			m.quitPrompt = true
			return nil
		}
		m.result = Result{}
		return tea.Quit
	case key.Matches(k, m.keys.Help):
		if m.view == viewHelp {
			return m.switchTo(m.back)
		}
		return m.switchTo(viewHelp)
	case key.Matches(k, m.keys.NextView), key.Matches(k, m.keys.PrevView):
		d := 1
		if key.Matches(k, m.keys.PrevView) {
			d = len(tabs) - 1
		}
		cur := 0
		for i, v := range tabs {
			if v == m.view || (m.view == viewDetail || m.view == viewHelp) && v == m.back {
				cur = i
			}
		}
		return m.switchTo(tabs[(cur+d)%len(tabs)])
	}
	for i, b := range []key.Binding{m.keys.Services, m.keys.Logs, m.keys.Resources, m.keys.Alerts, m.keys.Images, m.keys.Hosts} {
		if key.Matches(k, b) {
			if tabs[i] == viewLogs && m.view != viewLogs {
				m.logs.setService("")
			}
			return m.switchTo(tabs[i])
		}
	}
	switch m.view {
	case viewServices:
		return m.table.update(k, m)
	case viewLogs:
		return m.logs.update(k, m)
	case viewDetail:
		return m.updateDetail(k)
	case viewResources:
		return m.res.update(k, m)
	case viewAlerts:
		return m.alertV.update(k, m)
	case viewImages:
		m.images.scroll.update(k, m.keys, m.bodyHeight())
	case viewHosts:
		m.hostV.scroll.update(k, m.keys, m.bodyHeight())
	case viewHelp:
		if key.Matches(k, m.keys.Back) {
			return m.switchTo(m.back)
		}
		m.helpV.update(k, m.keys, m.bodyHeight())
	}
	return nil
}

// interrupt is Ctrl-C: in up mode it stops the stack, otherwise it leaves.
func (m *Model) interrupt() tea.Cmd {
	m.result = Result{StopStack: m.mode == ModeUp, Interrupted: true}
	return tea.Quit
}

// View implements tea.Model.
func (m *Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.width < 20 || m.height < 6 {
		return strings.Join(padLines([]string{clip("devorch: terminal too small", m.width)}, m.height), "\n")
	}
	w := m.width
	var b strings.Builder
	b.Grow(w * m.height * 2)
	b.WriteString(m.renderHeader(w))
	b.WriteByte('\n')
	b.WriteString(m.renderTabs(w))
	b.WriteByte('\n')
	if banner := m.renderBanner(w); banner != "" {
		b.WriteString(banner)
		b.WriteByte('\n')
	}
	for _, l := range m.renderBody(w, m.bodyHeight()) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(m.renderStatus(w))
	b.WriteByte('\n')
	b.WriteString(m.renderFooter(w))
	return b.String()
}

// bodyHeight is what the current view may use: the screen less the
// header, the tabs, the banner, the status line and the footer.
func (m *Model) bodyHeight() int {
	h := m.height - 4
	if m.hasBanner() {
		h--
	}
	if h < 1 {
		h = 1
	}
	return h
}

func (m *Model) renderBody(w, h int) []string {
	var lines []string
	switch m.view {
	case viewServices:
		lines = m.table.render(m, w, h)
	case viewLogs:
		lines = m.logs.render(m, w, h)
	case viewDetail:
		lines = m.renderDetail(w, h)
	case viewResources:
		lines = m.res.render(m, w, h)
	case viewAlerts:
		lines = m.alertV.render(m, w, h)
	case viewImages:
		lines = m.images.render(m, w, h)
	case viewHosts:
		lines = m.hostV.render(m, w, h)
	case viewHelp:
		lines = m.renderHelp(w, h)
	}
	return padLines(lines, h)
}

func (m *Model) renderHeader(w int) string {
	running, sampled := 0, 0
	var cpu, mem float64
	for i := range m.containers {
		c := &m.containers[i]
		if c.Running() {
			running++
			if s, ok := lastSample(c); ok {
				sampled++
				cpu += s.CPUPercent
				mem += float64(s.MemUsage)
			}
		}
	}
	up := 0
	for _, h := range m.hosts {
		if h.Reachable {
			up++
		}
	}
	left := m.th.Title.Render("devorch") + " " + m.th.Bold.Render(m.b.Project())
	if m.swarm {
		return m.swarmHeader(left, running, up, w)
	}
	totals := fmt.Sprintf("%d services · %d/%d running · CPU %s · MEM %s", len(m.serviceNames()), running, len(m.containers), percent(cpu), bytesLong(mem))
	if sampled < running {
		totals += fmt.Sprintf(" (%d/%d sampled)", sampled, running)
	}
	if len(m.hosts) > 1 {
		totals += fmt.Sprintf(" · hosts %d/%d", up, len(m.hosts))
	}
	right := m.th.HeaderInfo.Render(totals)
	gap := w - visibleWidth(left) - visibleWidth(right)
	if gap < 1 {
		return clip(left+"  "+right, w)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m *Model) renderTabs(w int) string {
	var parts []string
	for i, v := range tabs {
		label := fmt.Sprintf("%d %s", i+1, v)
		if v == viewAlerts && len(m.alerts) > 0 {
			label += fmt.Sprintf(" (%d)", len(m.alerts))
		}
		if v == m.view || ((m.view == viewDetail || m.view == viewHelp) && v == m.back) {
			parts = append(parts, m.th.TabActive.Render(label))
		} else {
			parts = append(parts, m.th.Tab.Render(label))
		}
	}
	s := strings.Join(parts, "  ")
	switch m.view {
	case viewDetail:
		s += m.th.Dim.Render("  › ") + m.th.TabActive.Render(fmt.Sprintf("Detail %s", replicaName(m.detail.service, m.detail.replica)))
	case viewHelp:
		s += m.th.Dim.Render("  › ") + m.th.TabActive.Render("Help")
	}
	return clip(s, w)
}

func (m *Model) hasBanner() bool {
	if len(m.alerts) > 0 {
		return true
	}
	for _, h := range m.hosts {
		if !h.Reachable && !h.Checked.IsZero() {
			return true
		}
	}
	return false
}

// renderBanner is one line on what needs attention: unreachable hosts,
// then unacknowledged alerts.
func (m *Model) renderBanner(w int) string {
	var parts []string
	for _, h := range m.hosts {
		if !h.Reachable && !h.Checked.IsZero() && m.swarm {
			parts = append(parts, m.th.Banner.Render("✗ node "+h.Name+" "+h.NodeState))
		} else if !h.Reachable && !h.Checked.IsZero() {
			msg := "✗ host " + h.Name + " unreachable"
			if h.Err != "" {
				msg += ": " + oneLine(h.Err)
			}
			parts = append(parts, m.th.Banner.Render(msg))
		}
	}
	if n := len(m.alerts); n > 0 {
		last := m.alerts[n-1]
		msg := fmt.Sprintf("⚠ %d alert", n)
		if n > 1 {
			msg += "s"
		}
		msg += ": " + oneLine(last.Message)
		if m.view != viewAlerts {
			msg += " (4: alerts)"
		}
		parts = append(parts, m.th.BannerWarn.Render(msg))
	}
	if len(parts) == 0 {
		return ""
	}
	return clip(strings.Join(parts, "  "), w)
}

func (m *Model) renderFooter(w int) string {
	m.help.Width = w
	return clip(m.help.ShortHelpView(m.keys.forView(m.view)), w)
}

// replicaName is service-N, or the service alone for replica 0.
func replicaName(service string, replica int) string {
	if replica <= 0 {
		return service
	}
	return fmt.Sprintf("%s-%d", service, replica)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return sanitize(s)
}

// toggleWatch turns hot reload on or off.
func (m *Model) toggleWatch() tea.Cmd {
	on, err := m.b.SetWatch(!m.watching)
	if err != nil {
		m.setStatus(statusError, "hot reload: "+oneLine(err.Error()))
		return nil
	}
	m.watching = on
	if on {
		m.setStatus(statusOK, "hot reload on: develop.watch rules are followed (w turns it off)")
	} else {
		m.setStatus(statusInfo, "hot reload off")
	}
	return nil
}

// noteWatch shows a hot-reload batch in the status line.
func (m *Model) noteWatch(ev *engine.Event) {
	who := ev.Service
	if who == "" {
		who = "compose file"
	}
	if ev.Err != nil {
		m.setStatus(statusError, fmt.Sprintf("watch: %s %s: %s", who, ev.Status, oneLine(ev.Err.Error())))
		return
	}
	m.setStatus(statusOK, fmt.Sprintf("watch: %s %s %s", who, ev.Status, ev.Detail))
}
