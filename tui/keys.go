package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key binding; help and the footer are generated from it.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Services, Logs, Resources, Alerts, Images, Hosts key.Binding
	NextView, PrevView, Detail, Back, Help, Quit     key.Binding
	ForceQuit                                        key.Binding

	Sort, SortReverse, Filter key.Binding

	Restart, Stop, Start, Recreate, Rebuild, Shell key.Binding
	ScaleUp, ScaleDown, OpenLogs                   key.Binding
	// Tune is disabled (and so out of the help and footers) until the
	// backend has a recommendation: a Swarm, or no usage history, has none.
	Tune key.Binding

	Follow, Search, NextMatch, PrevMatch, OnlyMatches key.Binding
	Timestamps, Wrap, CycleService                    key.Binding
	Watch                                             key.Binding

	Ack, AckAll key.Binding

	Yes, No, Accept key.Binding
	StopStack       key.Binding
	LeaveRunning    key.Binding
}

func defaultKeys() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Up:       b("↑/k", "up", "up", "k"),
		Down:     b("↓/j", "down", "down", "j"),
		PageUp:   b("pgup", "page up", "pgup", "ctrl+u"),
		PageDown: b("pgdn", "page down", "pgdown", "ctrl+d", " "),
		Top:      b("g/home", "top", "g", "home"),
		Bottom:   b("G/end", "bottom", "G", "end"),

		Services:  b("1", "services", "1"),
		Logs:      b("2", "logs", "2"),
		Resources: b("3", "resources", "3"),
		Alerts:    b("4", "alerts", "4"),
		Images:    b("5", "images", "5"),
		Hosts:     b("6", "hosts", "6"),
		NextView:  b("tab", "next view", "tab"),
		PrevView:  b("shift+tab", "previous view", "shift+tab"),
		Detail:    b("enter", "detail", "enter"),
		Back:      b("esc", "back", "esc"),
		Help:      b("?", "help", "?"),
		Quit:      b("q", "quit", "q"),
		ForceQuit: b("ctrl+c", "quit now", "ctrl+c"),
		Watch:     b("w", "hot reload", "w"),

		Sort:        b("s", "sort column", "s"),
		SortReverse: b("S", "reverse sort", "S"),
		Filter:      b("/", "filter", "/"),

		Restart:   b("r", "restart", "r"),
		Stop:      b("x", "stop", "x"),
		Start:     b("u", "start", "u"),
		Recreate:  b("c", "recreate", "c"),
		Rebuild:   b("b", "rebuild+recreate", "b"),
		Shell:     b("e", "shell", "e"),
		ScaleUp:   b("+", "scale up", "+", "="),
		ScaleDown: b("-", "scale down", "-"),
		OpenLogs:  b("l", "logs of service", "l"),
		Tune:      key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "write compose.tune.yaml (all services)"), key.WithDisabled()),

		Follow:       b("f", "follow", "f"),
		Search:       b("/", "search", "/"),
		NextMatch:    b("n", "next match", "n"),
		PrevMatch:    b("N", "previous match", "N"),
		OnlyMatches:  b("m", "only matches", "m"),
		Timestamps:   b("t", "timestamps", "t"),
		Wrap:         b("W", "wrap", "W"),
		CycleService: b("s", "next service / all", "s"),

		Ack:    b("a", "acknowledge", "a"),
		AckAll: b("A", "acknowledge all", "A"),

		Yes:          b("y", "yes", "y", "Y"),
		No:           b("n", "no", "n", "N", "esc"),
		Accept:       b("enter", "apply filter/search", "enter"),
		StopStack:    b("s", "stop the stack", "s", "S"),
		LeaveRunning: b("l", "leave it running", "l", "L"),
	}
}

func (k keyMap) navigation() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}

func (k keyMap) views() []key.Binding {
	return []key.Binding{k.Services, k.Logs, k.Resources, k.Alerts, k.Images, k.Hosts, k.NextView, k.Detail, k.Back, k.Help, k.Watch, k.Quit, k.ForceQuit}
}

func (k keyMap) actions() []key.Binding {
	return []key.Binding{k.Restart, k.Stop, k.Start, k.Recreate, k.Rebuild, k.Shell, k.ScaleUp, k.ScaleDown, k.OpenLogs, k.Tune}
}

func (k keyMap) table() []key.Binding { return []key.Binding{k.Sort, k.SortReverse, k.Filter} }

func (k keyMap) logs() []key.Binding {
	return []key.Binding{k.Follow, k.Search, k.NextMatch, k.PrevMatch, k.OnlyMatches, k.Timestamps, k.Wrap, k.CycleService}
}

func (k keyMap) alerts() []key.Binding { return []key.Binding{k.Ack, k.AckAll} }

// forView is the short footer of a view.
func (k keyMap) forView(v view) []key.Binding {
	switch v {
	case viewServices:
		return []key.Binding{k.Help, k.Detail, k.OpenLogs, k.Restart, k.Stop, k.Start, k.Recreate, k.Rebuild, k.Shell, k.ScaleUp, k.ScaleDown, k.Sort, k.Filter, k.NextView, k.Quit}
	case viewLogs:
		return []key.Binding{k.Help, k.Follow, k.Search, k.NextMatch, k.PrevMatch, k.OnlyMatches, k.Timestamps, k.Wrap, k.CycleService, k.Top, k.Bottom, k.Back, k.Quit}
	case viewDetail:
		return []key.Binding{k.Help, k.Back, k.OpenLogs, k.Restart, k.Stop, k.Start, k.Recreate, k.Rebuild, k.Shell, k.Tune, k.Up, k.Down, k.Quit}
	case viewResources:
		return []key.Binding{k.Help, k.Detail, k.OpenLogs, k.Restart, k.Stop, k.Up, k.Down, k.NextView, k.Quit}
	case viewAlerts:
		return []key.Binding{k.Help, k.Ack, k.AckAll, k.Up, k.Down, k.NextView, k.Quit}
	case viewHelp:
		return []key.Binding{k.Back, k.Quit}
	default:
		return []key.Binding{k.Help, k.Up, k.Down, k.NextView, k.Back, k.Quit}
	}
}

// full is every binding grouped in columns, for the help view.
func (k keyMap) full() []helpGroup {
	return []helpGroup{
		{"views", k.views()},
		{"move", k.navigation()},
		{"services", append(k.table(), k.actions()...)},
		{"logs", k.logs()},
		{"alerts", k.alerts()},
	}
}

type helpGroup struct {
	title    string
	bindings []key.Binding
}
