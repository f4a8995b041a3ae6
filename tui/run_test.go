package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func TestRunModes(t *testing.T) {
	for _, c := range []struct {
		name string
		mode Mode
		keys []string // typed one at a time, as a person does; "wait:TEXT" waits for TEXT on screen
		stop bool
	}{
		{"attach q leaves the stack", ModeAttach, []string{"q"}, false},
		{"up ctrl+c stops the stack", ModeUp, []string{"\x03"}, true},
		{"up q then s stops", ModeUp, []string{"q", "wait:Quit: s stop the stack", "s"}, true},
		{"up q then l leaves", ModeUp, []string{"q", "wait:Quit: s stop the stack", "l"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), screenDeadline)
			defer cancel()
			r, w := ioPipe()
			defer r.Close()
			defer w.Close()
			screen := newScreen()
			defer screen.Close()
			// Each key is typed once the screen shows the program is ready
			// for it: keys written together would be read as one.
			typed := make(chan error, 1)
			go func() {
				err := screen.waitFor("SERVICE")
				for _, k := range c.keys {
					if err != nil {
						break
					}
					if marker, ok := strings.CutPrefix(k, "wait:"); ok {
						err = screen.waitFor(marker)
						continue
					}
					_, err = io.WriteString(w, k)
				}
				typed <- err
			}()
			res, err := Run(ctx, newFake(), Options{Mode: c.mode, Stdin: r, Stdout: screen, Now: testNow, NoAltScreen: true})
			// Whatever the typist still waits for or writes will not come.
			r.Close()
			screen.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := <-typed; err != nil {
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
	screen := newScreen()
	defer screen.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, newFake(), Options{Stdin: r, Stdout: screen, NoAltScreen: true})
		done <- err
	}()
	// Cancelled once it runs (its first frame is out), not before.
	if err := screen.waitFor("SERVICE"); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(screenDeadline):
		t.Fatal("Run did not end with its context")
	}
}

// screenDeadline bounds a wait for the program: generous, since a busy
// machine is slow, not wrong.
const screenDeadline = time.Minute

// screen is a program's output that a test can wait on.
type screen struct {
	mu     sync.Mutex
	seen   bytes.Buffer
	closed bool
}

func newScreen() *screen { return &screen{} }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen.Write(p)
}

// Close ends waits in progress.
func (s *screen) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// waitFor waits until text has been written, up to screenDeadline.
func (s *screen) waitFor(text string) error {
	deadline := time.Now().Add(screenDeadline)
	for {
		s.mu.Lock()
		found, closed, out := bytes.Contains(s.seen.Bytes(), []byte(text)), s.closed, s.seen.String()
		s.mu.Unlock()
		switch {
		case found:
			return nil
		case closed:
			return fmt.Errorf("%q never on screen; output:\n%s", text, out)
		case time.Now().After(deadline):
			return fmt.Errorf("%q not on screen after %s; output:\n%s", text, screenDeadline, out)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
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
	// A service keeps its colour from run to run and release to release
	// (users learn them): it depends on the name alone, through FNV-1a.
	// These figures are that hash's, written out; a change of hash, seed or
	// of what is hashed changes them.
	want := map[string]int{"api": 7, "web": 5, "db": 3, "cache": 5, "worker": 7, "queue": 0, "auth": 9, "mail": 0}
	seen := map[int]bool{}
	for s, w := range want {
		if got := serviceColour(s, 10); got != w {
			t.Errorf("%s: colour %d, want %d", s, got, w)
		}
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
