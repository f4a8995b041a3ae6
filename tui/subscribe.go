package tui

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

const (
	// subscribeBuffer is the bus channel's size. A subscriber that falls
	// this far behind loses events of any kind; the bus then sends
	// KindResync, and the model re-reads containers, hosts and alerts from
	// the Monitor's snapshots, so state comes back; missed log and
	// progress lines do not (the logs view re-reads backlogs on demand).
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
	// time.After's timer is collected once the batch returns (Go 1.23+),
	// fired or not.
	return gather(ch, max, func() <-chan time.Time { return time.After(window) })
}

// gather is waitEvents with the window's clock given: window is called
// when the first event has arrived and its channel ends the batch.
func gather(ch <-chan engine.Event, max int, window func() <-chan time.Time) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsMsg{closed: true}
		}
		batch := make([]engine.Event, 1, 64)
		batch[0] = ev
		end := window()
		for len(batch) < max {
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{events: batch, closed: true}
				}
				batch = append(batch, ev)
			case <-end:
				return eventsMsg{events: batch}
			}
		}
		return eventsMsg{events: batch}
	}
}
