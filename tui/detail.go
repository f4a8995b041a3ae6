package tui

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// detailView is the detail view's state: which replica, and the scroll.
type detailView struct {
	service string
	replica int
	scroller
	cacheKey string
	lines    []string
}

// secretWords mark environment keys whose values are masked.
var secretWords = []string{"SECRET", "PASSWORD", "TOKEN", "KEY", "PASS", "CREDENTIAL"}

const masked = "••••••"

// maskEnv hides the value of a KEY=VALUE whose key looks secret.
func maskEnv(kv string) string {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || v == "" {
		return kv
	}
	up := strings.ToUpper(k)
	for _, w := range secretWords {
		if strings.Contains(up, w) {
			return k + "=" + masked
		}
	}
	return kv
}

func (m *Model) updateDetail(k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, m.keys.Back) {
		return m.switchTo(m.back)
	}
	if m.detail.update(k, m.keys, m.bodyHeight()) {
		return nil
	}
	cmd, _ := m.actionKey(k)
	return cmd
}

func (m *Model) renderDetail(w, h int) []string {
	d := &m.detail
	// The clock is in the key: uptime and ages move every second.
	ck := fmt.Sprintf("%d/%d/%s/%d/%d", m.version, w, d.service, d.replica, m.now().Unix())
	if ck != d.cacheKey {
		d.cacheKey = ck
		d.lines = m.detailLines(w)
	}
	return d.window(d.lines, h)
}

func (m *Model) detailLines(w int) []string {
	th := m.th
	d := &m.detail
	var out []string
	add := func(s string) { out = append(out, clip(s, w)) }
	field := func(label, value string) {
		add("  " + th.Label.Render(fit(label, 11)) + " " + value)
	}
	section := func(title string) {
		out = append(out, "")
		add(th.Section.Render(title))
	}
	name := replicaName(d.service, d.replica)
	c := m.container(d.service, d.replica)
	info := m.svcInfo[d.service]
	if c == nil {
		add(th.Bold.Render(name) + th.Dim.Render(" · service "+d.service))
		field("state", th.Dim.Render("no container (not created, or removed)"))
		if info.Image != "" {
			field("image", info.Image)
		}
		if info.HasBuild {
			field("build", "yes (b rebuilds)")
		}
		return out
	}
	n := len(m.byService[d.service])
	add(th.Bold.Render(c.Name) + th.Dim.Render(fmt.Sprintf(" · service %s · replica %d of %d", c.Service, c.Replica, n)))
	state := m.th.Dim.Render(stateText(c))
	switch stateClass(c) {
	case 1:
		state = th.Good.Render(stateText(c))
	case 2:
		state = th.Warn.Render(stateText(c))
	case 3:
		state = th.Bad.Render(stateText(c))
	}
	extra := fmt.Sprintf(" · restarts %d", c.RestartCount)
	if c.State == "running" && !c.StartedAt.IsZero() {
		extra = " · up " + duration(m.now().Sub(c.StartedAt)) + extra
	} else if !c.FinishedAt.IsZero() {
		extra = " · finished " + age(m.now().Sub(c.FinishedAt)) + extra
	}
	field("state", state+extra)
	field("host", c.HostName())
	field("placement", m.placement(c))
	img := c.Image
	if c.ImageID != "" {
		img += th.Dim.Render(" (" + shortImageID(c.ImageID) + ")")
	}
	field("image", img)
	cmd := strings.Join(append(append([]string(nil), c.Entrypoint...), c.Cmd...), " ")
	if cmd == "" {
		cmd = c.Command
	}
	field("command", cmd)
	if p := ports(c.Ports); p != "" {
		field("ports", p)
	}
	if s, ok := lastSample(c); ok && c.Running() {
		cpus := make([]float64, len(c.Samples))
		mems := make([]float64, len(c.Samples))
		for i, smp := range c.Samples {
			cpus[i], mems[i] = smp.CPUPercent, float64(smp.MemUsage)
		}
		lim := ""
		if c.CPULimit > 0 {
			lim = fmt.Sprintf(" (limit %g CPUs)", c.CPULimit)
		}
		field("cpu", fit(percent(s.CPUPercent), 7)+th.Spark.Render(sparkline(cpus, 30, 0))+lim)
		mem := bytesLong(float64(s.MemUsage))
		if l := memLimit(c, s); l > 0 {
			mem += " / " + bytesLong(float64(l))
		}
		field("memory", th.Spark.Render(sparkline(mems, 30, 0))+" "+mem)
		field("network", fmt.Sprintf("↓ %s  ↑ %s", rate(c.Rates.NetRx), rate(c.Rates.NetTx)))
		field("block io", fmt.Sprintf("read %s  write %s", rate(c.Rates.BlockRead), rate(c.Rates.BlockWrite)))
	}

	section(fmt.Sprintf("Environment (%d)", len(c.Env)))
	env := append([]string(nil), c.Env...)
	sort.Strings(env)
	for _, e := range env {
		add("  " + maskEnv(e))
	}
	section(fmt.Sprintf("Mounts (%d)", len(c.Mounts)))
	for _, mt := range c.Mounts {
		add("  " + mt)
	}
	section(fmt.Sprintf("Networks (%d)", len(c.Networks)))
	nets := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		ip := c.Networks[n]
		if ip == "" {
			ip = "(no address)"
		}
		add("  " + fit(n, 24) + " " + ip)
	}
	section("Health (last checks)")
	if len(c.HealthLog) == 0 {
		add(th.Dim.Render("  no health check"))
	}
	hl := c.HealthLog
	if len(hl) > 5 {
		hl = hl[len(hl)-5:]
	}
	for _, p := range hl {
		res := th.Good.Render("ok     ")
		if p.ExitCode != 0 {
			res = th.Bad.Render(fmt.Sprintf("exit %-2d", p.ExitCode))
		}
		add("  " + p.Start.Format("15:04:05") + "  " + res + " " + oneLine(p.Output))
	}
	section("Recent events")
	if len(c.Events) == 0 {
		add(th.Dim.Render("  none since devorch started watching"))
	}
	for _, e := range c.Events {
		add("  " + e)
	}
	return out
}

// placement is the host and why, when the backend says; with one host
// there is nothing to choose.
func (m *Model) placement(c *engine.ContainerState) string {
	if r := m.b.Placement(*c); r != "" {
		return c.HostName() + ": " + r
	}
	if len(m.hosts) <= 1 {
		return "single host"
	}
	return c.HostName() + m.th.Dim.Render(" (no reason reported)")
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
