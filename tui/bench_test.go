package tui

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// bigFake is 100 services with one running replica each, 90 samples per
// container and a full log window.
func bigFake(n int) *fakeBackend {
	f := newFake()
	f.services, f.containers, f.logs = nil, nil, nil
	for i := 0; i < n; i++ {
		svc := fmt.Sprintf("svc%03d", i)
		c := ctr("dvt-"+svc+"-1", svc, 1, "local", "running", "healthy", time.Duration(i)*time.Minute)
		c.Samples = samples(90, float64(i%40), uint64(20+i)*mib, gib)
		f.services = append(f.services, ServiceInfo{Name: svc, Image: c.Image, Scale: 1})
		f.containers = append(f.containers, c)
	}
	for i := 0; i < defaultLogWindow; i++ {
		svc := fmt.Sprintf("svc%03d", i%n)
		f.logs = append(f.logs, engine.LogLine{Time: fixedNow.Add(time.Duration(i) * time.Millisecond), Container: "dvt-" + svc + "-1",
			Service: svc, Replica: 1, Stream: "stdout", Text: fmt.Sprintf("GET /api/items/%d 200 %d.%dms user=%d", i, i%50, i%10, i%977)})
	}
	return f
}

// frames makes the batches 5,000 lines a second become at 60 frames a
// second (84 lines each), with one stats sample per frame (100
// containers sampled every 2 s).
func frames(n, count int) [][]engine.Event {
	out := make([][]engine.Event, count)
	seq := 0
	for f := range out {
		evs := make([]engine.Event, 0, 85)
		for i := 0; i < 84; i++ {
			svc := fmt.Sprintf("svc%03d", seq%n)
			evs = append(evs, engine.Event{Kind: engine.KindLog, Resource: engine.ResContainer, Name: "dvt-" + svc + "-1", Service: svc, Replica: 1,
				Stream: "stdout", Line: fmt.Sprintf("\tPOST /api/orders/%d 201 %dms ERROR? no", seq, seq%300), Time: fixedNow.Add(time.Duration(seq) * 200 * time.Microsecond)})
			seq++
		}
		svc := fmt.Sprintf("svc%03d", f%n)
		evs = append(evs, engine.Event{Kind: engine.KindStats, Name: "dvt-" + svc + "-1", Service: svc, ID: "id-dvt-" + svc + "-1"})
		out[f] = evs
	}
	return out
}

func benchModel(b *testing.B, keys ...string) *Model {
	m := newModel(bigFake(100), config{theme: testTheme(), now: testNow})
	b.Cleanup(m.close)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	press(b, m, keys...)
	_ = m.View()
	return m
}

// benchView measures View alone, after each frame's batch went through
// Update (not timed).
func benchView(b *testing.B, keys ...string) {
	m := benchModel(b, keys...)
	fs := frames(100, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m.Update(eventsMsg{events: fs[i%len(fs)]})
		b.StartTimer()
		_ = m.View()
	}
}

// benchFrame measures a whole frame: Update with the batch, then View.
func benchFrame(b *testing.B, keys ...string) {
	m := benchModel(b, keys...)
	fs := frames(100, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Update(eventsMsg{events: fs[i%len(fs)]})
		_ = m.View()
	}
}

func BenchmarkViewServices(b *testing.B) { benchView(b) }
func BenchmarkViewLogs(b *testing.B)     { benchView(b, "2") }
func BenchmarkViewLogsSearchWrap(b *testing.B) {
	benchView(b, "2", "w", "t", "/", "error", "enter", "G")
}
func BenchmarkViewResources(b *testing.B) { benchView(b, "3") }
func BenchmarkFrameServices(b *testing.B) { benchFrame(b) }
func BenchmarkFrameLogs(b *testing.B)     { benchFrame(b, "2") }
func BenchmarkFrameLogsSearchWrap(b *testing.B) {
	benchFrame(b, "2", "w", "t", "/", "error", "enter", "G")
}
