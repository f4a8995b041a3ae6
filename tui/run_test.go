package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func TestRunModes(t *testing.T) {
	for _, c := range []struct {
		name string
		mode Mode
		keys []string // typed one at a time, as a person does
		stop bool
	}{
		{"attach q leaves the stack", ModeAttach, []string{"q"}, false},
		{"up ctrl+c stops the stack", ModeUp, []string{"\x03"}, true},
		{"up q then s stops", ModeUp, []string{"q", "s"}, true},
		{"up q then l leaves", ModeUp, []string{"q", "l"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, w := ioPipe()
			defer r.Close()
			defer w.Close()
			go func() {
				for _, k := range c.keys {
					time.Sleep(30 * time.Millisecond)
					_, _ = io.WriteString(w, k)
				}
			}()
			res, err := Run(ctx, newFake(), Options{Mode: c.mode, Stdin: r, Stdout: &out, Now: testNow, NoAltScreen: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.StopStack != c.stop {
				t.Fatalf("StopStack %v, want %v", res.StopStack, c.stop)
			}
		})
	}
}

func TestRunEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, w := ioPipe()
	defer w.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, newFake(), Options{Stdin: r, Stdout: &bytes.Buffer{}, NoAltScreen: true})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

// TestNoColor: the theme follows the renderer made from the output, so
// NO_COLOR removes every colour while a colour terminal gets them.
func TestNoColor(t *testing.T) {
	render := func() string {
		var buf bytes.Buffer
		r := lipgloss.NewRenderer(&buf, termenv.WithTTY(true), termenv.WithUnsafe())
		th := NewTheme(r)
		return th.Bad.Render("x") + th.serviceStyle("web").Render("web")
	}
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("COLORTERM", "")
	t.Setenv("NO_COLOR", "")
	if got := render(); !strings.Contains(got, "\x1b[") {
		t.Fatalf("a colour terminal gets colours: %q", got)
	}
	t.Setenv("NO_COLOR", "1")
	if got := render(); strings.Contains(got, "\x1b[") {
		t.Fatalf("NO_COLOR still coloured: %q", got)
	}
}

func TestServiceColoursAreStable(t *testing.T) {
	a, b := serviceColour("web", 10), serviceColour("web", 10)
	if a != b {
		t.Fatal("a service's colour changes")
	}
	seen := map[int]bool{}
	for _, s := range []string{"api", "web", "db", "cache", "worker", "queue", "auth", "mail"} {
		seen[serviceColour(s, 10)] = true
	}
	if len(seen) < 4 {
		t.Fatalf("colours hardly differ: %v", seen)
	}
}

func TestEngineBackendWithoutComposeFile(t *testing.T) {
	b := &EngineBackend{project: "dvt-x"}
	for name, fn := range map[string]func() error{
		"recreate": func() error { return b.Recreate(context.Background(), "web") },
		"rebuild":  func() error { return b.Rebuild(context.Background(), "web") },
		"scale":    func() error { return b.Scale(context.Background(), "web", 2) },
	} {
		if err := fn(); err == nil || !strings.Contains(err.Error(), "needs the compose file") {
			t.Errorf("%s without a compose file: %v", name, err)
		}
	}
}

// ioPipe is the terminal's input. Not an *os.File: Bubble Tea's
// epoll-based cancel reader races with its own shutdown on those.
func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }
