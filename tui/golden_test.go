package tui

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
)

// requireGolden compares a rendered screen with testdata/NAME.golden;
// `go test ./tui -update` rewrites the files (the flag comes with
// teatest's golden package).
func requireGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestGoldenViews renders every view at 80×24 and 160×48 through a real
// Bubble Tea program (teatest) with a fake backend, a fixed clock and no
// colour.
func TestGoldenViews(t *testing.T) {
	cases := []struct {
		name   string
		keys   []string
		marker string // on screen once the view is ready
		// keys are sent in order; "wait:TEXT" waits for TEXT on screen.
	}{
		{"services", nil, "SERVICE"},
		{"services_filter", []string{"/", "w", "e"}, "filter: we"},
		{"services_sorted_cpu", []string{"s", "s"}, "CPU▼"},
		{"services_confirm", []string{"down", "down", "x"}, "(y/n)"},
		{"logs", []string{"2"}, "40 lines"},
		{"logs_search", []string{"2", "wait:40 lines", "t", "/", "e", "r", "r", "o", "r", "enter", "n"}, "match 1 of"},
		{"logs_only_matches", []string{"2", "wait:40 lines", "/", "g", "e", "t", "enter", "m"}, "only matches"},
		{"logs_wrap_one_service", []string{"2", "wait:40 lines", "W", "s"}, "8 lines"},
		{"detail", []string{"enter"}, "Environment"},
		{"resources", []string{"3"}, "sparklines"},
		{"alerts", []string{"4"}, "MESSAGE"},
		{"images", []string{"5"}, "(5 images)"},
		{"hosts", []string{"6"}, "containers ("},
		{"help", []string{"?"}, "acknowledge all"},
	}
	for _, c := range cases {
		for _, sz := range goldenSizes {
			name := fmt.Sprintf("%s_%dx%d", c.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				requireGolden(t, name, renderScreen(t, newFake(), c.keys, c.marker, sz[0], sz[1]))
			})
		}
	}
}

var goldenSizes = [][2]int{{80, 24}, {160, 48}}

// TestGoldenTune renders the detail view of a service with a
// recommendation (from a fake UsageSource), before and after T wrote the
// override file.
func TestGoldenTune(t *testing.T) {
	cases := []struct {
		name   string
		keys   []string
		marker string
	}{
		{"detail_tune", []string{"enter"}, "readings over"},
		{"detail_tune_written", []string{"enter", "wait:readings over", "T"}, "wrote "},
	}
	for _, c := range cases {
		for _, sz := range goldenSizes {
			name := fmt.Sprintf("%s_%dx%d", c.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				fb := newFake()
				fb.usage = newFakeUsage()
				requireGolden(t, name, renderScreen(t, fb, c.keys, c.marker, sz[0], sz[1]))
			})
		}
	}
}

// renderScreen runs the model on fb in a w×h terminal, sends keys
// ("wait:TEXT" waits for TEXT on screen), waits for marker and returns the
// final frame, checked to fill the terminal.
func renderScreen(t *testing.T, fb *fakeBackend, keys []string, marker string, w, h int) string {
	t.Helper()
	m := newModel(fb, config{theme: testTheme(), now: testNow})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = tm.Quit() })
	out := &outWatcher{r: tm.Output()}
	out.wait(t, "SERVICE")
	for _, k := range keys {
		if text, ok := strings.CutPrefix(k, "wait:"); ok {
			out.wait(t, text)
			continue
		}
		tm.Send(keyMsg(k))
	}
	out.wait(t, marker)
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(screenDeadline)).(*Model)
	screen := fm.View()
	checkScreen(t, screen, w, h)
	return screen
}

// checkScreen asserts a frame fills the terminal exactly: as many lines
// as rows, none wider than the columns.
func checkScreen(t *testing.T, screen string, w, h int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("line %d is %d cells wide (> %d): %q", i+1, lw, w, l)
		}
	}
}

// outWatcher accumulates a program's output to wait for text on screen.
type outWatcher struct {
	r    io.Reader
	seen bytes.Buffer
}

func (o *outWatcher) wait(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(screenDeadline)
	for {
		if _, err := io.Copy(&o.seen, o.r); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(o.seen.Bytes(), []byte(marker)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not on screen after %s; output:\n%s", marker, screenDeadline, o.seen.String())
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
