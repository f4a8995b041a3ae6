package engine

import "github.com/devorch/devorch/engine/event"

// The event stream lives in engine/event (a leaf that engine/monitor shares);
// these names keep engine.Event and friends working for cmd/ and tui/.
type (
	Kind  = event.Kind
	Event = event.Event
	Stats = event.Stats
	Sink  = event.Sink
	Bus   = event.Bus
)

// NewBus returns an empty bus.
func NewBus() *Bus { return event.NewBus() }

const (
	KindProgress = event.KindProgress
	KindLog      = event.KindLog
	KindState    = event.KindState
	KindWarning  = event.KindWarning
	KindExit     = event.KindExit
	KindStats    = event.KindStats
	KindHost     = event.KindHost
	KindAlert    = event.KindAlert
	KindWatch    = event.KindWatch
	KindResync   = event.KindResync
)

const (
	ResNetwork   = event.ResNetwork
	ResVolume    = event.ResVolume
	ResImage     = event.ResImage
	ResContainer = event.ResContainer
	ResService   = event.ResService
)
