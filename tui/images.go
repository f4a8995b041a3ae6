package tui

import (
	"context"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// imagesView is the images the stack uses on each host, and the builds
// and pulls in progress.
type imagesView struct {
	scroll    scroller
	entries   []engine.ImageEntry
	err       error
	loading   bool
	hasLoaded bool
	gen       int
	inflight  map[string]*imageProgress
	order     []string // inflight keys, oldest first
}

type imageProgress struct {
	name, host, status, detail, line string
	at                               time.Time
	done                             bool
}

type imagesMsg struct {
	gen     int
	entries []engine.ImageEntry
	err     error
}

const maxImageProgress = 16

// load lists the images in a command; a newer load wins over an older one.
func (v *imagesView) load(ctx context.Context, b Backend) tea.Cmd {
	v.gen++
	v.loading = true
	gen := v.gen
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var entries []engine.ImageEntry
		err := safely(func() error {
			var err error
			entries, err = b.Images(ctx)
			return err
		})
		return imagesMsg{gen: gen, entries: entries, err: err}
	}
}

func (v *imagesView) loaded(msg imagesMsg) {
	if msg.gen != v.gen {
		return
	}
	v.loading, v.hasLoaded = false, true
	v.entries, v.err = msg.entries, msg.err
}

// progress notes a build or pull step; it says whether one finished (the
// list is then worth re-reading).
func (v *imagesView) progress(ev *engine.Event, now time.Time) bool {
	if v.inflight == nil {
		v.inflight = map[string]*imageProgress{}
	}
	k := ev.Host + "\x00" + ev.Name
	p := v.inflight[k]
	if p == nil {
		p = &imageProgress{name: ev.Name, host: ev.Host}
		v.inflight[k] = p
		v.order = append(v.order, k)
	}
	p.status, p.detail, p.at = ev.Status, ev.Detail, now
	switch ev.Status {
	case "Built", "Pulled", "Skipped", "Removed":
		p.done = true
	default:
		p.done = false
	}
	// Forget the oldest finished steps beyond a few.
	for len(v.order) > maxImageProgress {
		drop := -1
		for i, k := range v.order {
			if v.inflight[k].done {
				drop = i
				break
			}
		}
		if drop < 0 {
			break
		}
		delete(v.inflight, v.order[drop])
		v.order = append(v.order[:drop], v.order[drop+1:]...)
	}
	return p.done
}

// buildLine keeps the last line a build printed, to show beside it.
func (v *imagesView) buildLine(ev *engine.Event) {
	if p := v.inflight[ev.Host+"\x00"+ev.Name]; p != nil {
		p.line = oneLine(ev.Line)
	}
}

type imageGroup struct {
	e          engine.ImageEntry
	containers []string
}

func (v *imagesView) render(m *Model, w, h int) []string {
	th := m.th
	var lines []string
	if len(v.order) > 0 {
		lines = append(lines, th.Section.Render("Builds and pulls"))
		for _, k := range v.order {
			p := v.inflight[k]
			mark := th.Info.Render("⟳")
			if p.done {
				mark = th.Good.Render("✓")
			}
			s := "  " + mark + " " + p.name
			if p.host != "" {
				s += th.Dim.Render(" on "+p.host) + " "
			}
			s += " " + p.status
			if p.detail != "" {
				s += " " + p.detail
			}
			if p.line != "" && !p.done {
				s += th.Dim.Render("  " + p.line)
			}
			lines = append(lines, clip(s, w))
		}
		lines = append(lines, "")
	}
	groups := map[string]*imageGroup{}
	var keys []string
	for _, e := range v.entries {
		k := e.Host + "\x00" + e.ID
		g := groups[k]
		if g == nil {
			g = &imageGroup{e: e}
			groups[k] = g
			keys = append(keys, k)
		}
		g.containers = append(g.containers, e.Container)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := groups[keys[i]].e, groups[keys[j]].e
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		return a.Repository+":"+a.Tag < b.Repository+":"+b.Tag
	})
	title := "Images used by the stack"
	switch {
	case v.loading && !v.hasLoaded:
		title += " (loading…)"
	case v.loading:
		title += " (refreshing…)"
	default:
		title += " (" + plural(len(keys), "image") + ")"
	}
	lines = append(lines, th.Section.Render(clip(title, w)))
	if v.err != nil {
		lines = append(lines, th.Bad.Render(clip("  "+oneLine(v.err.Error()), w)))
	}
	hostW, imgW := 5, 10
	for _, k := range keys {
		g := groups[k]
		hostW = max(hostW, len(g.e.Host))
		imgW = max(imgW, len(g.e.Repository)+1+len(g.e.Tag))
	}
	hostW, imgW = min(hostW, 12), min(imgW, max(16, w/3))
	const idW, sizeW, ageW, srcW = 12, 8, 9, 6
	head := "  " + fit("HOST", hostW) + " " + fit("IMAGE", imgW) + " " + fit("ID", idW) + " " + fitRight("SIZE", sizeW) + " " + fit("CREATED", ageW) + " " + fit("SOURCE", srcW) + " USED BY"
	lines = append(lines, th.ColumnHeader.Render(clip(head, w)))
	now := m.now()
	for _, k := range keys {
		g := groups[k]
		src := th.Info.Render(fit("pulled", srcW))
		if g.e.Built {
			src = th.Good.Render(fit("built", srcW))
		}
		created := "?"
		if !g.e.Created.IsZero() {
			created = age(now.Sub(g.e.Created))
		}
		sort.Strings(g.containers)
		line := "  " + fit(g.e.Host, hostW) + " " + fit(g.e.Repository+":"+g.e.Tag, imgW) + " " + fit(shortImageID(g.e.ID), idW) + " " +
			fitRight(engine.HumanSize(g.e.Size), sizeW) + " " + fit(created, ageW) + " " + src + " " + strings.Join(g.containers, ", ")
		lines = append(lines, clip(line, w))
	}
	return v.scroll.window(lines, h)
}
