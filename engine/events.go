package engine

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
	Err      error
	Stats    *Stats
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

// Bus fans events out to subscribers. Subscribers that fall behind lose
// log and stats events (they are re-readable) but never progress, state or
// exit events.
type Bus struct {
	mu   sync.Mutex
	subs map[int]chan Event
	next int
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[int]chan Event{}} }

// Publish delivers ev to every subscriber.
func (b *Bus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		if ev.Kind == KindLog || ev.Kind == KindStats {
			select {
			case ch <- ev:
			default:
			}
			continue
		}
		ch <- ev
	}
}

// Subscribe returns a channel of events and a function that ends the
// subscription.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	ch := make(chan Event, buffer)
	b.subs[id] = ch
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if c, ok := b.subs[id]; ok {
			delete(b.subs, id)
			close(c)
		}
	}
}
