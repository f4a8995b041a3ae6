// Package event owns devorch's event stream: the typed Event every verb,
// the monitor, the plain printer and the TUI share, the Sink the engine
// reports to, and the Bus that fans events out to subscribers without ever
// blocking a publisher. It is a leaf: it imports nothing of devorch.
package event

import (
	"sync"
	"time"
)

// Kind says what an Event is about.
type Kind int

const (
	// KindProgress is a step on a resource (network, volume, image,
	// container): Status says which ("Creating", "Started", "Healthy", ...).
	KindProgress Kind = iota
	// KindLog is one line a container wrote.
	KindLog
	// KindState is a container state change observed from Docker's events.
	KindState
	// KindWarning is something the user should know that does not stop the run.
	KindWarning
	// KindExit is a container of an attached run that stopped, with its code.
	KindExit
	// KindStats is a resource sample for a container.
	KindStats
	// KindHost is a host's reachability changing.
	KindHost
	// KindAlert is something that needs a developer's attention.
	KindAlert
	// KindWatch is a hot-reload batch (sync, rebuild, restart).
	KindWatch
	// KindResync tells a subscriber that fell behind to re-read state.
	KindResync
)

// Resource kinds used in progress events.
const (
	ResNetwork   = "Network"
	ResVolume    = "Volume"
	ResImage     = "Image"
	ResContainer = "Container"
	ResService   = "Service"
)

// Event is one thing the engine did or saw. The plain printer, the TUI and
// tests all consume the same stream.
type Event struct {
	Time     time.Time
	Kind     Kind
	Resource string // ResNetwork, ResVolume, ResImage, ResContainer, ResService
	Name     string // network, volume, image or container name
	Host     string
	Service  string
	Replica  int
	ID       string // container ID
	Status   string // progress step, or the new state
	Health   string
	Detail   string // extra words: an error, an exit code, a percentage
	ExitCode int
	Stream   string // "stdout" or "stderr" for KindLog
	Line     string // the log line, without its newline
	// Backlog marks a KindLog line written before devorch started following
	// its container: a container's backlog arrives in one burst, so a view
	// places it by Time rather than by arrival.
	Backlog bool
	Err     error
	Stats   *Stats
}

// Stats is one resource sample for a container.
type Stats struct {
	CPUPercent  float64
	MemUsage    uint64
	MemLimit    uint64
	NetRx       uint64
	NetTx       uint64
	BlockRead   uint64
	BlockWrite  uint64
	Pids        uint64
	SampledAt   time.Time
	OnlineCPUs  uint32
	Unavailable bool
}

// Sink receives events. It must be safe for concurrent use and must not
// block for long: the engine calls it from many goroutines.
type Sink func(Event)

// Bus fans events out to subscribers. Publish never blocks: a subscriber
// that falls behind loses events, and the next event it does receive is
// preceded by a KindResync, telling it to re-read state (the Monitor's
// snapshots) instead of trusting what it missed.
type Bus struct {
	mu   sync.Mutex
	subs map[int]*subscriber
	next int
}

type subscriber struct {
	ch   chan Event
	lost bool
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[int]*subscriber{}} }

// Publish delivers ev to every subscriber that has room for it.
func (b *Bus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		if s.lost {
			select {
			case s.ch <- Event{Kind: KindResync, Time: ev.Time}:
				s.lost = false
			default:
				continue
			}
		}
		select {
		case s.ch <- ev:
		default:
			s.lost = true
		}
	}
}

// Subscribe returns a channel of events and a function that ends the
// subscription.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	s := &subscriber{ch: make(chan Event, buffer)}
	b.subs[id] = s
	return s.ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[id]; ok {
			delete(b.subs, id)
			close(s.ch)
		}
	}
}
