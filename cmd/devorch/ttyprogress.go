package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/devorch/devorch/engine"
)

// ttyProgress draws progress the way docker compose does in a terminal: one
// line per resource, updated in place, with a spinner while it works, a
// check mark when done and how long it took.
type ttyProgress struct {
	mu      sync.Mutex
	w       io.Writer
	color   bool
	lines   []*progressLine
	byKey   map[string]*progressLine
	drawn   int // lines on screen from the last draw
	dirty   bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
	frame   int
	start   time.Time
	title   string
}

type progressLine struct {
	text    string // "Container p-web-1"
	status  string
	detail  string
	started time.Time
	ended   time.Time
	state   int // 0 working, 1 done, 2 error
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newTTYProgress(w io.Writer, color bool) *ttyProgress {
	p := &ttyProgress{w: w, color: color, byKey: map[string]*progressLine{}, stop: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go p.loop()
	return p
}

func (p *ttyProgress) loop() {
	defer close(p.done)
	t := time.NewTicker(80 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			working := false
			for _, l := range p.lines {
				working = working || l.state == 0
			}
			if p.dirty || working {
				p.draw()
			}
			p.mu.Unlock()
		}
	}
}

// Stop draws the final state and stops updating; later output goes below.
func (p *ttyProgress) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
}

func progressState(status string) int {
	switch status {
	case "Created", "Started", "Healthy", "Running", "Removed", "Stopped", "Built", "Pulled", "Copied",
		"Recreated", "Restarted", "Exited", "Killed", "Paused", "Unpaused", "Skipped", "Moved", "Verified":
		return 1
	case "Error":
		return 2
	}
	if strings.HasPrefix(status, "Moved") || strings.HasPrefix(status, "Verified") {
		return 1
	}
	return 0
}

// Event records a progress event.
func (p *ttyProgress) Event(ev engine.Event, multiHost bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := ev.Name
	if multiHost && ev.Host != "" {
		name += " (" + ev.Host + ")"
	}
	key := ev.Resource + " " + name
	l := p.byKey[key]
	if l == nil {
		l = &progressLine{text: key, started: time.Now()}
		p.byKey[key] = l
		p.lines = append(p.lines, l)
	}
	st := progressState(ev.Status)
	if l.state != 0 && st == 0 {
		l.started = time.Now() // a new step after a finished one
	}
	l.status, l.detail, l.state = ev.Status, ev.Detail, st
	if st != 0 {
		l.ended = time.Now()
	}
	p.dirty = true
}

// Above prints a line (a warning) above the progress block.
func (p *ttyProgress) Above(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, line)
	p.drawn = 0
	p.dirty = true
	if p.stopped {
		return
	}
	p.draw()
}

func (p *ttyProgress) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
		for i := 0; i < p.drawn; i++ {
			fmt.Fprint(p.w, "\x1b[2K\n")
		}
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
}

func (p *ttyProgress) paint(s, code string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *ttyProgress) draw() {
	p.dirty = false
	if len(p.lines) == 0 {
		return
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	done := 0
	width := 0
	for _, l := range p.lines {
		if l.state != 0 {
			done++
		}
		if len(l.text) > width {
			width = len(l.text)
		}
	}
	verb := "Running"
	fmt.Fprintf(&b, "\x1b[2K%s %s %d/%d\n", p.paint("[+]", "34"), verb, done, len(p.lines))
	for _, l := range p.lines {
		mark := p.paint(spinner[p.frame%len(spinner)], "33")
		switch l.state {
		case 1:
			mark = p.paint("✔", "32")
		case 2:
			mark = p.paint("✘", "31")
		}
		end := l.ended
		if l.state == 0 {
			end = time.Now()
		}
		status := l.status
		if l.detail != "" && l.state == 1 && len(l.detail) < 30 {
			status += " " + l.detail
		}
		if l.state == 2 {
			status = p.paint(status, "31") // the error itself is printed at the end
		}
		fmt.Fprintf(&b, "\x1b[2K %s %-*s  %-12s %5.1fs\n", mark, width, l.text, status, end.Sub(l.started).Seconds())
	}
	fmt.Fprint(p.w, b.String())
	p.drawn = len(p.lines) + 1
}
