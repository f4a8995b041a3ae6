package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Mode says what quitting means.
type Mode int

const (
	// ModeAttach is `devorch tui` (or bare devorch): quitting leaves the
	// stack running.
	ModeAttach Mode = iota
	// ModeUp is `devorch up` in a terminal: Ctrl-C stops the stack, q asks.
	ModeUp
)

// Options configure Run.
type Options struct {
	Mode Mode
	// Stdin and Stdout are the terminal (default os.Stdin, os.Stdout). The
	// colour profile is detected from Stdout and honours NO_COLOR.
	Stdin  io.Reader
	Stdout io.Writer
	// UpDone, in ModeUp, delivers the result of the initial Up that runs
	// while the TUI shows its progress (the engine's sink publishes to the
	// monitor's bus, which the TUI reads). nil: nothing is starting.
	UpDone <-chan error
	// LogWindow bounds the lines the logs view keeps (default 5000).
	LogWindow int
	// Now is the clock (default time.Now); tests fix it.
	Now func() time.Time
	// NoAltScreen draws in the normal screen instead of the alternate one.
	NoAltScreen bool
}

// Result is how the TUI ended.
type Result struct {
	// StopStack says the user asked to stop the stack (ModeUp only).
	StopStack bool
	// Interrupted says the TUI ended with Ctrl-C.
	Interrupted bool
}

// Run shows the TUI until the user quits or ctx ends.
func Run(ctx context.Context, b Backend, o Options) (Result, error) {
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	r := lipgloss.NewRenderer(o.Stdout)
	// Ask the terminal for its background now, before Bubble Tea reads
	// the input: adaptive colours need it.
	r.HasDarkBackground()
	m := newModel(b, config{mode: o.Mode, theme: NewTheme(r), now: o.Now, logWindow: o.LogWindow, upDone: o.UpDone, ctx: ctx})
	defer m.close()
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(o.Stdin), tea.WithOutput(o.Stdout)}
	if !o.NoAltScreen {
		opts = append(opts, tea.WithAltScreen())
	}
	// Bubble Tea's renderer wakes at its frame rate even when nothing
	// changed: at its default 60 that was half of devorch's idle CPU
	// (1.95 % of a core with 20 services, 1.1-1.4 % at 30, measured with
	// /proc ticks over 60 s). 30 frames/s still scrolls and types smoothly.
	opts = append(opts, tea.WithFPS(uiFPS))
	final, err := tea.NewProgram(m, opts...).Run()
	if fm, ok := final.(*Model); ok && fm != nil {
		m = fm
	}
	if err != nil {
		if errors.Is(err, tea.ErrInterrupted) {
			return Result{StopStack: o.Mode == ModeUp, Interrupted: true}, nil
		}
		if ctx.Err() != nil {
			return m.result, ctx.Err()
		}
		return m.result, err
	}
	return m.result, nil
}

// uiFPS is the renderer's frame rate.
const uiFPS = 30
