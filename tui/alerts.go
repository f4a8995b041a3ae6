package tui

import (
	"fmt"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// alertsView lists the alerts not yet acknowledged.
type alertsView struct {
	list cursorList
}

func (a *alertsView) update(k tea.KeyMsg, m *Model) tea.Cmd {
	if a.list.update(k, m.keys, len(m.alerts), m.bodyHeight()-1) {
		return nil
	}
	switch {
	case key.Matches(k, m.keys.Ack):
		if a.list.cursor < 0 || a.list.cursor >= len(m.alerts) {
			m.setStatus(statusInfo, "no alert to acknowledge")
			return nil
		}
		al := m.alerts[a.list.cursor]
		m.b.Ack(al.ID)
		m.refreshAlerts()
		m.setStatus(statusOK, fmt.Sprintf("acknowledged alert %d (%s %s)", al.ID, al.Service, al.Kind))
	case key.Matches(k, m.keys.AckAll):
		n := len(m.alerts)
		if n == 0 {
			m.setStatus(statusInfo, "no alert to acknowledge")
			return nil
		}
		m.b.Ack(0)
		m.refreshAlerts()
		m.setStatus(statusOK, "acknowledged "+plural(n, "alert"))
	case key.Matches(k, m.keys.Back):
		return m.switchTo(viewServices)
	}
	return nil
}

func (a *alertsView) render(m *Model, w, h int) []string {
	th := m.th
	const idW, timeW, ageW, svcW, kindW = 4, 8, 8, 14, 12
	head := "  " + fitRight("#", idW) + " " + fit("TIME", timeW) + " " + fit("AGE", ageW) + " " + fit("SERVICE", svcW) + " " + fit("KIND", kindW) + " MESSAGE"
	lines := []string{th.ColumnHeader.Render(clip(head, w))}
	if len(m.alerts) == 0 {
		return append(lines, th.Dim.Render(clip("  no alerts: a container that turns unhealthy, restarts in a loop, is OOM-killed or exits non-zero shows here", w)))
	}
	a.list.fix(len(m.alerts), h-1)
	now := m.now()
	for i := a.list.offset; i < len(m.alerts) && i < a.list.offset+h-1; i++ {
		al := m.alerts[i]
		sel := i == a.list.cursor
		prefix := "  "
		if sel {
			prefix = "› "
		}
		kind := fit(al.Kind, kindW)
		if !sel {
			kind = th.Bad.Render(kind)
		}
		line := prefix + fitRight(strconv.Itoa(al.ID), idW) + " " + al.Time.Format("15:04:05") + " " + fit(age(now.Sub(al.Time)), ageW) + " " +
			fit(al.Service, svcW) + " " + kind + " " + oneLine(al.Message)
		line = clip(line, w)
		if sel {
			line = th.Selected.Render(line)
		}
		lines = append(lines, line)
	}
	return lines
}
