package engine

import (
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/event"
	"github.com/devorch/devorch/engine/images"
	"github.com/devorch/devorch/engine/logstream"
	"github.com/devorch/devorch/engine/monitor"
	"github.com/devorch/devorch/engine/plan"
)

// The types the verbs take and return live in the packages that own them;
// these names keep engine.Container, engine.Plan, engine.Event, engine.Monitor
// and friends working for cmd/ and tui/, which need not know where each is
// made.

// A container devorch manages, as Docker reports it, and a run's plan
// (engine/plan decides from them without I/O).
type (
	Container   = plan.Container
	Plan        = plan.Plan
	Step        = plan.Step
	Action      = plan.Action
	NetworkKind = plan.NetworkKind
)

const (
	ActKeep     = plan.ActKeep
	ActStart    = plan.ActStart
	ActCreate   = plan.ActCreate
	ActRecreate = plan.ActRecreate
	ActRestart  = plan.ActRestart
	ActRemove   = plan.ActRemove
)

// ImageOptions controls how images are made present.
type ImageOptions = images.Options

// `devorch logs`'s choices, and an attached `up`'s log following and exit
// tracking.
type (
	LogsOptions  = logstream.Options
	Attacher     = logstream.Attacher
	AttachResult = logstream.AttachResult
)

// The live monitor behind the TUI and alerts.
type (
	Monitor        = monitor.Monitor
	MonitorOptions = monitor.Options
	ContainerState = monitor.ContainerState
	HealthProbe    = monitor.HealthProbe
	HostState      = monitor.HostState
	Alert          = monitor.Alert
	LogLine        = monitor.LogLine
	Sample         = monitor.Sample
	Rates          = monitor.Rates
)

// The event stream (engine/event, a leaf that engine/monitor shares).
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

// Streams connect an interactive command (exec, run) to the caller's
// terminal or pipes.
type Streams = ctr.Streams
