package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/engine"
)

// fit cuts s to w cells (with an ellipsis) and pads it with spaces to
// exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-sw)
}

// fitRight is fit aligned right.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-sw) + s
}

// clip cuts s to w cells without padding.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// bytesShort renders bytes compactly in binary units: 512B, 1.5K, 12M, 1.2G.
func bytesShort(n float64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatFloat(n, 'f', 0, 64) + "B"
	}
	exp := 0
	for n >= unit && exp < 5 {
		n /= unit
		exp++
	}
	suffix := string("KMGTP"[exp-1])
	if n >= 100 {
		return strconv.FormatFloat(n, 'f', 0, 64) + suffix
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + suffix
}

// bytesLong renders bytes as 12.3MiB.
func bytesLong(n float64) string {
	s := bytesShort(n)
	if strings.HasSuffix(s, "B") {
		return s
	}
	return s + "iB"
}

func rate(n float64) string { return bytesShort(n) + "/s" }

// duration renders a duration compactly: 45s, 12m, 3h4m, 5d2h.
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// age is a coarse duration for things like image ages: 5m, 3h, 12d, 2y.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	default:
		return fmt.Sprintf("%dy ago", int(d.Hours()/24/365))
	}
}

func percent(p float64) string {
	if p >= 100 {
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// ports renders published ports as 8080→80/tcp, the protocol only when
// not tcp.
func ports(ps []container.Port) string {
	var out []string
	seen := map[string]bool{}
	for _, p := range ps {
		if p.PublicPort == 0 {
			continue
		}
		s := fmt.Sprintf("%d→%d", p.PublicPort, p.PrivatePort)
		if p.Type != "" && p.Type != "tcp" {
			s += "/" + p.Type
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last w values, scaled to the largest of them (or to
// max when it is larger), right-aligned.
func sparkline(vals []float64, w int, max float64) string {
	if w <= 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	for _, v := range vals {
		if v > max {
			max = v
		}
	}
	var b strings.Builder
	b.Grow(w * 3)
	for i := len(vals); i < w; i++ {
		b.WriteByte(' ')
	}
	for _, v := range vals {
		if max <= 0 || v <= 0 {
			b.WriteRune(sparkRunes[0])
			continue
		}
		i := int(math.Round(v / max * float64(len(sparkRunes)-1)))
		if i >= len(sparkRunes) {
			i = len(sparkRunes) - 1
		}
		b.WriteRune(sparkRunes[i])
	}
	return b.String()
}

// stateText is a container's state as the services table shows it.
func stateText(c *engine.ContainerState) string {
	switch c.State {
	case "running":
		switch c.Health {
		case "starting":
			return "starting"
		case "healthy":
			return "healthy"
		case "unhealthy":
			return "unhealthy"
		}
		return "running"
	case "exited", "dead":
		if c.OOMKilled {
			return "oom-killed"
		}
		return fmt.Sprintf("exited %d", c.ExitCode)
	case "":
		return "unknown"
	}
	return c.State
}

// stateClass says how a state is coloured: 0 neutral, 1 good, 2 warn, 3 bad.
func stateClass(c *engine.ContainerState) int {
	switch {
	case c.State == "running" && c.Health == "unhealthy":
		return 3
	case c.State == "running" && c.Health == "starting":
		return 2
	case c.State == "running":
		return 1
	case c.State == "restarting", c.State == "dead", c.OOMKilled:
		return 3
	case c.State == "exited" && c.ExitCode != 0:
		return 3
	case c.State == "created", c.State == "paused":
		return 2
	}
	return swarmStateClass(c)
}

// swarmStateClass colours the states of Swarm tasks, which containers
// never have: a task on its way to running is a warning, or bad when
// Swarm says why it is stuck ("no suitable node").
func swarmStateClass(c *engine.ContainerState) int {
	switch c.State {
	case "new", "pending", "assigned", "accepted", "preparing", "ready", "starting":
		if c.Status != "" {
			return 3
		}
		return 2
	case "failed", "rejected", "orphaned":
		return 3
	}
	return 0
}

// lastSample is a container's newest resource sample.
func lastSample(c *engine.ContainerState) (engine.Sample, bool) {
	if len(c.Samples) == 0 {
		return engine.Sample{}, false
	}
	return c.Samples[len(c.Samples)-1], true
}

// memLimit is the memory limit to show: the one set on the container, else
// what Docker reports (the host's memory).
func memLimit(c *engine.ContainerState, s engine.Sample) uint64 {
	if c.MemLimitSet > 0 {
		return c.MemLimitSet
	}
	return s.MemLimit
}

// sanitize makes a log line safe to draw: no escape sequences, no control
// characters, tabs expanded.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansi.Strip(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// padLines returns exactly h lines (cut or padded with empty ones).
func padLines(lines []string, h int) []string {
	if h <= 0 {
		return nil
	}
	if len(lines) > h {
		return lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}

// clamp keeps v within [lo, hi] (lo when hi < lo).
func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// visibleWidth is the cells s takes on screen.
func visibleWidth(s string) int { return ansi.StringWidth(s) }
