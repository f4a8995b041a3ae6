package tui

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

const (
	// subscribeBuffer is the bus channel's size: the bus drops log and
	// stats events for a subscriber that falls this far behind (they can
	// be re-read), never state, progress or alert events.
	subscribeBuffer = 8192
	// batchMax and batchWindow bound one batch: a burst of 5,000 log lines
	// a second becomes about 60 messages a second, one per frame.
	batchMax    = 4096
	batchWindow = 16 * time.Millisecond
)

// eventsMsg is one batch of engine events.
type eventsMsg struct {
	events []engine.Event
	closed bool // the subscription ended after these
}

// waitEvents blocks for the next event, then gathers whatever else arrives
// within the window (up to max events) into one message. It is re-issued
// after each message, so there is exactly one reader.
func waitEvents(ch <-chan engine.Event, max int, window time.Duration) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsMsg{closed: true}
		}
		batch := make([]engine.Event, 1, 64)
		batch[0] = ev
		timer := time.NewTimer(window)
		defer timer.Stop()
		for len(batch) < max {
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{events: batch, closed: true}
				}
				batch = append(batch, ev)
			case <-timer.C:
				return eventsMsg{events: batch}
			}
		}
		return eventsMsg{events: batch}
	}
}
