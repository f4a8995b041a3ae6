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
	// The recommendation follows the samples, which bump the version.
	ck := fmt.Sprintf("%d/%d/%d/%s/%d/%d", m.version, w, h, d.service, d.replica, m.now().Unix())
	if ck != d.cacheKey {
		d.cacheKey = ck
		d.lines = m.detailLines(w, h)
	}
	return d.window(d.lines, h)
}

// detailLines renders the selected replica, section by section; h is the
// view's height, which decides how much room the recommendation gets.
func (m *Model) detailLines(w, h int) []string {
	d := &m.detail
	out := &detailWriter{th: &m.th, w: w}
	c := m.container(d.service, d.replica)
	if c == nil {
		m.detailNoContainer(out)
		return out.lines
	}
	if m.swarm {
		m.swarmDetailLines(out, c)
		return out.lines
	}
	m.detailState(out, c)
	m.detailIdentity(out, c)
	detailResources(out, c)
	m.detailTune(out, h)
	detailEnv(out, c)
	detailMounts(out, c)
	detailNetworks(out, c)
	detailHealth(out, c)
	detailEvents(out, c)
	return out.lines
}

// detailWriter collects the detail view's lines, each clipped to the
// view's width.
type detailWriter struct {
	th    *Theme
	w     int
	lines []string
}

func (o *detailWriter) add(s string) { o.lines = append(o.lines, clip(s, o.w)) }

func (o *detailWriter) field(label, value string) {
	o.add("  " + o.th.Label.Render(fit(label, 11)) + " " + value)
}

func (o *detailWriter) section(title string) {
	o.lines = append(o.lines, "")
	o.add(o.th.Section.Render(title))
}

// detailNoContainer is what is known of a replica that has no container:
// the service's image and whether it builds.
func (m *Model) detailNoContainer(out *detailWriter) {
	th, d := out.th, &m.detail
	info := m.svcInfo[d.service]
	out.add(th.Bold.Render(replicaName(d.service, d.replica)) + th.Dim.Render(" · service "+d.service))
	out.field("state", th.Dim.Render("no container (not created, or removed)"))
	if info.Image != "" {
		out.field("image", info.Image)
	}
	if info.HasBuild {
		out.field("build", "yes (b rebuilds)")
	}
}

// detailState is the title line and the state with its uptime or age.
func (m *Model) detailState(out *detailWriter, c *engine.ContainerState) {
	th := out.th
	n := len(m.byService[m.detail.service])
	out.add(th.Bold.Render(c.Name) + th.Dim.Render(fmt.Sprintf(" · service %s · replica %d of %d", c.Service, c.Replica, n)))
	state := th.Dim.Render(stateText(c))
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
	out.field("state", state+extra)
}

// detailIdentity is where the replica runs and what: host, placement,
// image, command, ports.
func (m *Model) detailIdentity(out *detailWriter, c *engine.ContainerState) {
	out.field("host", c.HostName())
	out.field("placement", m.placement(c))
	m.detailImage(out, c)
}

// detailImage is what a replica runs: image, command, ports.
func (m *Model) detailImage(out *detailWriter, c *engine.ContainerState) {
	img := c.Image
	if c.ImageID != "" {
		img += out.th.Dim.Render(" (" + shortImageID(c.ImageID) + ")")
	}
	out.field("image", img)
	cmd := strings.Join(append(append([]string(nil), c.Entrypoint...), c.Cmd...), " ")
	if cmd == "" {
		cmd = c.Command
	}
	out.field("command", cmd)
	if p := ports(c.Ports); p != "" {
		out.field("ports", p)
	}
}

// detailResources is a running replica's cpu, memory, network and block
// io, with sparklines of the samples kept.
func detailResources(out *detailWriter, c *engine.ContainerState) {
	s, ok := lastSample(c)
	if !ok || !c.Running() {
		return
	}
	th := out.th
	cpus := make([]float64, len(c.Samples))
	mems := make([]float64, len(c.Samples))
	for i, smp := range c.Samples {
		cpus[i], mems[i] = smp.CPUPercent, float64(smp.MemUsage)
	}
	lim := ""
	if c.CPULimit > 0 {
		lim = fmt.Sprintf(" (limit %g CPUs)", c.CPULimit)
	}
	out.field("cpu", fit(percent(s.CPUPercent), 7)+th.Spark.Render(sparkline(cpus, 30, 0))+lim)
	mem := bytesLong(float64(s.MemUsage))
	if l := memLimit(c, s); l > 0 {
		mem += " / " + bytesLong(float64(l))
	}
	out.field("memory", th.Spark.Render(sparkline(mems, 30, 0))+" "+mem)
	out.field("network", fmt.Sprintf("↓ %s  ↑ %s", rate(c.Rates.NetRx), rate(c.Rates.NetTx)))
	out.field("block io", fmt.Sprintf("read %s  write %s", rate(c.Rates.BlockRead), rate(c.Rates.BlockWrite)))
}

// detailEnv lists the environment sorted, secret-looking values masked.
func detailEnv(out *detailWriter, c *engine.ContainerState) {
	out.section(fmt.Sprintf("Environment (%d)", len(c.Env)))
	env := append([]string(nil), c.Env...)
	sort.Strings(env)
	for _, e := range env {
		out.add("  " + maskEnv(e))
	}
}

func detailMounts(out *detailWriter, c *engine.ContainerState) {
	out.section(fmt.Sprintf("Mounts (%d)", len(c.Mounts)))
	for _, mt := range c.Mounts {
		out.add("  " + mt)
	}
}

// detailNetworks lists the networks by name with the replica's address.
func detailNetworks(out *detailWriter, c *engine.ContainerState) {
	out.section(fmt.Sprintf("Networks (%d)", len(c.Networks)))
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
		line := "  " + fit(n, 24) + " " + ip
		if kind := c.NetworkKinds[n]; kind != "" {
			line = "  " + fit(n, 24) + " " + fit(ip, 16) + " " + out.th.Dim.Render(kind)
		}
		out.add(line)
	}
}

// detailHealth shows the last five health checks.
func detailHealth(out *detailWriter, c *engine.ContainerState) {
	th := out.th
	out.section("Health (last checks)")
	if len(c.HealthLog) == 0 {
		out.add(th.Dim.Render("  no health check"))
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
		out.add("  " + p.Start.Format("15:04:05") + "  " + res + " " + oneLine(p.Output))
	}
}

func detailEvents(out *detailWriter, c *engine.ContainerState) {
	out.section("Recent events")
	if len(c.Events) == 0 {
		out.add(out.th.Dim.Render("  none since devorch started watching"))
	}
	for _, e := range c.Events {
		out.add("  " + e)
	}
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
