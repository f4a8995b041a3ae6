package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/devorch/devorch/engine"
)

// printer renders engine events for scripts and plain terminals: progress
// lines on stderr ( Container p-web-1  Started), container logs on stdout
// with a coloured "service-1  | " prefix, as docker compose prints them.
type printer struct {
	mu        sync.Mutex
	out, err  io.Writer
	mode      string // tty, plain, quiet
	color     bool   // colour in log prefixes
	errColor  bool   // colour in progress lines
	prefix    bool
	multiHost bool
	width     int
	colors    map[string]string
	next      int
	// buildOutput prints build steps (plain mode shows them, as compose does).
	buildOutput bool
	// tty draws progress in place (--progress tty).
	tty *ttyProgress
}

// Close finishes the in-place progress drawing, if any.
func (p *printer) Close() {
	if p.tty != nil {
		p.tty.Stop()
	}
}

// endTTY stops in-place drawing before streamed output (logs) begins.
func (p *printer) endTTY() {
	if p.tty != nil {
		p.tty.Stop()
	}
}

var prefixColors = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func (a *app) newPrinter(logPrefix bool) (*printer, error) {
	mode, err := a.progressMode()
	if err != nil {
		return nil, err
	}
	pr := &printer{
		out: a.out, err: a.errOut, mode: mode,
		color: a.colorOn(a.out), errColor: a.colorOn(a.errOut),
		prefix: logPrefix, colors: map[string]string{}, buildOutput: mode == "plain",
	}
	if mode == "tty" {
		pr.tty = newTTYProgress(a.errOut, pr.errColor)
	}
	a.closers = append(a.closers, pr.Close)
	return pr, nil
}

// reserve widens the log prefix column for a name.
func (p *printer) reserve(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(name) > p.width {
		p.width = len(name)
	}
}

// logName is the prefix compose uses: service-replica, or the container
// name for one-off containers.
func logName(ev engine.Event) string {
	if ev.Service != "" && ev.Replica > 0 && !strings.Contains(ev.Name, "-run-") {
		return fmt.Sprintf("%s-%d", ev.Service, ev.Replica)
	}
	return ev.Name
}

func (p *printer) colorFor(name string) string {
	c, ok := p.colors[name]
	if !ok {
		c = prefixColors[p.next%len(prefixColors)]
		p.next++
		p.colors[name] = c
	}
	return c
}

func (p *printer) sink(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Kind {
	case engine.KindLog:
		if ev.Resource != engine.ResImage {
			p.endTTY()
		}
		if ev.Resource == engine.ResImage {
			if p.buildOutput {
				fmt.Fprintf(p.err, " %s %s\n", p.dim(ev.Service+" build |"), ev.Line)
			}
			return
		}
		p.logLine(logName(ev), ev.Line)
	case engine.KindExit:
		p.endTTY()
		name := logName(ev)
		if ev.Status == "restarting" {
			p.logLine(name, "")
			fmt.Fprintf(p.out, "%s exited with code %d (restarting)\n", p.paint(name, p.colorFor(name), p.color), ev.ExitCode)
			return
		}
		fmt.Fprintf(p.out, "%s exited with code %d\n", p.paint(name, p.colorFor(name), p.color), ev.ExitCode)
	case engine.KindWatch:
		p.endTTY()
		// One line per batch, on stdout: what tests and scripts count.
		who := ev.Service
		if who == "" {
			who = "project"
		}
		status := "ok"
		if ev.Err != nil {
			status = "error"
		}
		fmt.Fprintf(p.out, "%s %s %s %s: %s\n", p.paint("[watch]", "36", p.color), who, ev.Status, status, ev.Detail)
	case engine.KindAlert:
		p.endTTY()
		fmt.Fprintf(p.out, "%s %s: %s\n", p.paint("ALERT", "31", p.color), ev.Service, ev.Detail)
	case engine.KindWarning:
		if p.mode == "quiet" {
			return
		}
		line := fmt.Sprintf("%s %s", p.paint("WARN", "33", p.errColor), ev.Detail)
		if p.tty != nil && !p.tty.stopped {
			p.tty.Above(line)
			return
		}
		fmt.Fprintln(p.err, line)
	case engine.KindProgress:
		if p.mode == "quiet" {
			return
		}
		if p.tty != nil && !p.tty.stopped {
			p.tty.Event(ev, p.multiHost)
			return
		}
		name := ev.Name
		if p.multiHost && ev.Host != "" {
			name += " (" + ev.Host + ")"
		}
		status := ev.Status
		if ev.Detail != "" {
			status += " " + ev.Detail
		}
		fmt.Fprintf(p.err, " %s %s  %s\n", ev.Resource, name, p.statusColor(status))
	}
}

func (p *printer) logLine(name, line string) {
	if !p.prefix {
		fmt.Fprintln(p.out, line)
		return
	}
	pad := p.width - len(name)
	if pad < 0 {
		pad = 0
	}
	prefix := name + strings.Repeat(" ", pad) + "  | "
	fmt.Fprintf(p.out, "%s%s\n", p.paint(prefix, p.colorFor(name), p.color), line)
}

func (p *printer) paint(s, code string, on bool) string {
	if !on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) dim(s string) string { return p.paint(s, "2", p.errColor) }

func (p *printer) statusColor(s string) string {
	if !p.errColor {
		return s
	}
	switch {
	case strings.HasPrefix(s, "Error"):
		return p.paint(s, "31", true)
	case strings.HasPrefix(s, "Started"), strings.HasPrefix(s, "Healthy"), strings.HasPrefix(s, "Created"),
		strings.HasPrefix(s, "Running"), strings.HasPrefix(s, "Recreated"), strings.HasPrefix(s, "Built"), strings.HasPrefix(s, "Pulled"):
		return p.paint(s, "32", true)
	}
	return s
}
