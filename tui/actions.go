package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// actionTimeout bounds one action; a rebuild may take long.
const actionTimeout = 30 * time.Minute

// pendingAction is an action on a service, to run now or after a y/n.
type pendingAction struct {
	verb    string // restart, stop, ...
	doing   string // restarting, stopping, ...
	done    string // restarted, stopped, ...
	service string
	target  string // what the messages name: the service, or "web to 3"
	confirm string // the question; empty: no confirmation needed
	run     func(ctx context.Context, b Backend) error
}

func (a pendingAction) describe() string { return a.verb + " " + a.label() }

func (a pendingAction) label() string {
	if a.target != "" {
		return a.target
	}
	return a.service
}

type runningAction struct {
	a       pendingAction
	started time.Time
	last    string // the latest progress step
}

type actionDoneMsg struct {
	id  int
	err error
}

type shellReadyMsg struct {
	target string
	cmd    *exec.Cmd
	err    error
}

type shellDoneMsg struct {
	target string
	err    error
}

// statusKind orders what the status line shows.
type statusKind int

const (
	statusNone statusKind = iota
	statusInfo
	statusProgress
	statusOK
	statusWarn
	statusError
)

type status struct {
	kind statusKind
	text string
	at   time.Time
}

// expire drops informational messages after a while; errors and warnings
// stay until something replaces them.
func (s *status) expire(now time.Time) {
	if (s.kind == statusInfo || s.kind == statusOK) && now.Sub(s.at) > 8*time.Second {
		*s = status{}
	}
}

func (m *Model) setStatus(k statusKind, text string) {
	m.status = status{kind: k, text: text, at: m.now()}
}

// renderStatus is the status line: a question when one is asked, else the
// filter or search being typed, else the latest message.
func (m *Model) renderStatus(w int) string {
	switch {
	case m.quitPrompt:
		return clip(m.th.Prompt.Render("Quit: s stop the stack · l leave it running · esc cancel"), w)
	case m.confirm != nil:
		return clip(m.th.Prompt.Render(m.confirm.confirm+" (y/n)"), w)
	case m.table.filtering && m.view == viewServices:
		return clip(m.table.filter.View(), w)
	case m.logs.searching && m.view == viewLogs:
		return clip(m.logs.input.View(), w)
	}
	text := m.status.text
	if text == "" && len(m.actions) > 0 {
		for _, a := range m.actions {
			text = a.a.doing + " " + a.a.label() + "…"
			break
		}
	}
	if text == "" && m.starting {
		text = "starting the stack…"
		if n := len(m.progress); n > 0 {
			text += " " + m.progress[n-1]
		}
		return clip(m.th.StatusInfo.Render(text), w)
	}
	switch m.status.kind {
	case statusError:
		return clip(m.th.StatusError.Render("✗ "+text), w)
	case statusWarn:
		return clip(m.th.StatusWarn.Render("! "+text), w)
	case statusOK:
		return clip(m.th.StatusOK.Render("✓ "+text), w)
	case statusProgress:
		return clip(m.th.StatusInfo.Render("… "+text), w)
	}
	return clip(m.th.StatusInfo.Render(text), w)
}

// noteProgress follows the engine's progress events: the startup panel,
// and the status of a running action on that service.
func (m *Model) noteProgress(ev *engine.Event) {
	name := ev.Name
	if ev.Resource == engine.ResContainer && ev.Service != "" && ev.Replica > 0 {
		name = replicaName(ev.Service, ev.Replica)
	}
	line := strings.TrimSpace(fmt.Sprintf("%s %s %s %s", ev.Resource, name, ev.Status, ev.Detail))
	m.progress = append(m.progress, line)
	if len(m.progress) > maxProgress {
		m.progress = append(m.progress[:0], m.progress[len(m.progress)-maxProgress/2:]...)
	}
	for _, a := range m.actions {
		if a.a.service == ev.Service || (ev.Resource == engine.ResImage && ev.Service == "") {
			a.last = strings.TrimSpace(fmt.Sprintf("%s %s %s", name, ev.Status, ev.Detail))
			m.setStatus(statusProgress, fmt.Sprintf("%s %s: %s", a.a.verb, a.a.label(), a.last))
		}
	}
}

const maxProgress = 200

// selection is the service (and replica) the actions apply to.
func (m *Model) selection() (service string, replica int, ok bool) {
	switch m.view {
	case viewServices:
		if r := m.table.selected(); r != nil {
			return r.service, r.replica, true
		}
	case viewDetail:
		return m.detail.service, m.detail.replica, m.detail.service != ""
	case viewResources:
		if s := m.res.selected(m); s != "" {
			return s, 1, true
		}
	}
	return "", 0, false
}

// actionKey handles the keys that act on the selected service; handled is
// false for any other key.
func (m *Model) actionKey(k tea.KeyMsg) (cmd tea.Cmd, handled bool) {
	kb := m.keys
	if !key.Matches(k, kb.Restart, kb.Stop, kb.Start, kb.Recreate, kb.Rebuild, kb.Shell, kb.ScaleUp, kb.ScaleDown, kb.OpenLogs, kb.Detail) {
		return nil, false
	}
	svc, replica, ok := m.selection()
	if !ok {
		m.setStatus(statusWarn, "no service selected")
		return nil, true
	}
	n := len(m.byService[svc])
	if info := m.svcInfo[svc]; info.Swarm {
		n = info.Scale // desired tasks, whatever runs now
	}
	switch {
	case key.Matches(k, kb.Detail):
		m.detail.service, m.detail.replica = svc, replica
		return m.switchTo(viewDetail), true
	case key.Matches(k, kb.OpenLogs):
		m.logs.setService(svc)
		if m.view == viewLogs {
			return m.logs.load(m), true
		}
		return m.switchTo(viewLogs), true
	case key.Matches(k, kb.Restart):
		return m.ask(pendingAction{verb: "restart", doing: "restarting", done: "restarted", service: svc,
			run: func(ctx context.Context, b Backend) error { return b.Restart(ctx, svc) }}), true
	case key.Matches(k, kb.Start):
		return m.ask(pendingAction{verb: "start", doing: "starting", done: "started", service: svc,
			run: func(ctx context.Context, b Backend) error { return b.Start(ctx, svc) }}), true
	case key.Matches(k, kb.Stop):
		return m.ask(pendingAction{verb: "stop", doing: "stopping", done: "stopped", service: svc,
			confirm: fmt.Sprintf("Stop %s (%s)?", svc, plural(n, "container")),
			run:     func(ctx context.Context, b Backend) error { return b.Stop(ctx, svc) }}), true
	case key.Matches(k, kb.Recreate):
		return m.ask(pendingAction{verb: "recreate", doing: "recreating", done: "recreated", service: svc,
			confirm: fmt.Sprintf("Recreate %s (%s replaced)?", svc, plural(n, "container")),
			run:     func(ctx context.Context, b Backend) error { return b.Recreate(ctx, svc) }}), true
	case key.Matches(k, kb.Rebuild):
		if info, known := m.svcInfo[svc]; known && !info.HasBuild {
			m.setStatus(statusWarn, fmt.Sprintf("%s has no build section: nothing to rebuild (c recreates it)", svc))
			return nil, true
		}
		return m.ask(pendingAction{verb: "rebuild", doing: "rebuilding", done: "rebuilt and recreated", service: svc,
			confirm: fmt.Sprintf("Rebuild %s's image and recreate it (%s replaced)?", svc, plural(n, "container")),
			run:     func(ctx context.Context, b Backend) error { return b.Rebuild(ctx, svc) }}), true
	case key.Matches(k, kb.ScaleUp):
		to := n + 1
		return m.ask(pendingAction{verb: "scale", doing: "scaling", done: "scaled", service: svc, target: fmt.Sprintf("%s to %d", svc, to),
			run: func(ctx context.Context, b Backend) error { return b.Scale(ctx, svc, to) }}), true
	case key.Matches(k, kb.ScaleDown):
		if n == 0 {
			m.setStatus(statusWarn, svc+" has no replicas to remove")
			return nil, true
		}
		to := n - 1
		return m.ask(pendingAction{verb: "scale", doing: "scaling", done: "scaled", service: svc, target: fmt.Sprintf("%s to %d", svc, to),
			confirm: fmt.Sprintf("Scale %s down to %s?", svc, plural(to, "replica")),
			run:     func(ctx context.Context, b Backend) error { return b.Scale(ctx, svc, to) }}), true
	case key.Matches(k, kb.Shell):
		return m.shell(svc, replica), true
	}
	return nil, false
}

// ask runs the action, or asks first when it destroys something.
func (m *Model) ask(a pendingAction) tea.Cmd {
	if a.confirm != "" {
		m.confirm = &a
		return nil
	}
	return m.startAction(a)
}

// startAction runs an action in a command with its own context; its
// result comes back as an actionDoneMsg, and a panic in the backend is an
// error, never a crash.
func (m *Model) startAction(a pendingAction) tea.Cmd {
	m.nextAction++
	id := m.nextAction
	m.actions[id] = &runningAction{a: a, started: m.now()}
	m.setStatus(statusProgress, a.doing+" "+a.label()+"…")
	ctx, b := m.ctx, m.b
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		return actionDoneMsg{id: id, err: safely(func() error { return a.run(ctx, b) })}
	}
}

func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return fn()
}

func (m *Model) actionDone(msg actionDoneMsg) tea.Cmd {
	ra, ok := m.actions[msg.id]
	if !ok {
		return nil
	}
	delete(m.actions, msg.id)
	took := m.now().Sub(ra.started).Round(100 * time.Millisecond)
	if msg.err != nil {
		m.setStatus(statusError, fmt.Sprintf("%s %s: %s", ra.a.verb, ra.a.label(), oneLine(msg.err.Error())))
	} else {
		m.setStatus(statusOK, fmt.Sprintf("%s %s (%s)", ra.a.done, ra.a.label(), took))
	}
	m.refreshContainers()
	if m.view == viewImages {
		return m.images.load(m.ctx, m.b)
	}
	return nil
}

// shell checks the replica has a shell (in a command), then hands the
// terminal to `devorch exec SERVICE sh` and takes it back after.
func (m *Model) shell(svc string, replica int) tea.Cmd {
	if replica <= 0 {
		replica = 1
	}
	target := replicaName(svc, replica)
	c := m.container(svc, replica)
	if c == nil {
		m.setStatus(statusWarn, target+" has no container: nothing to open a shell in")
		return nil
	}
	if !c.Running() {
		m.setStatus(statusWarn, fmt.Sprintf("%s is not running (%s): no shell", target, stateText(c)))
		return nil
	}
	m.setStatus(statusProgress, "opening a shell in "+target+"…")
	ctx, b := m.ctx, m.b
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var cmd *exec.Cmd
		err := safely(func() error {
			var err error
			cmd, err = b.Shell(ctx, svc, replica)
			return err
		})
		return shellReadyMsg{target: target, cmd: cmd, err: err}
	}
}

func (m *Model) shellReady(msg shellReadyMsg) tea.Cmd {
	switch {
	case errors.Is(msg.err, ErrNoShell):
		m.setStatus(statusWarn, fmt.Sprintf("%s: its image has no shell (no sh, e.g. a scratch image); use l for its logs", msg.target))
		return nil
	case msg.err != nil:
		m.setStatus(statusError, fmt.Sprintf("shell in %s: %s", msg.target, oneLine(msg.err.Error())))
		return nil
	case msg.cmd == nil:
		m.setStatus(statusError, "shell in "+msg.target+": no command to run")
		return nil
	}
	m.setStatus(statusInfo, "shell in "+msg.target)
	target := msg.target
	return tea.ExecProcess(msg.cmd, func(err error) tea.Msg { return shellDoneMsg{target: target, err: err} })
}

func (m *Model) shellDone(msg shellDoneMsg) {
	if msg.err != nil {
		m.setStatus(statusWarn, fmt.Sprintf("shell in %s ended: %s", msg.target, oneLine(msg.err.Error())))
		return
	}
	m.setStatus(statusOK, "shell in "+msg.target+" closed")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "ch") || strings.HasSuffix(what, "s") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
