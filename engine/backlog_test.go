package engine

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestMonitorMarksBacklogLines: the lines a container wrote before the
// monitor started following it come marked as backlog (a view merges them
// by time); the lines it writes afterwards do not.
func TestMonitorMarksBacklogLines(t *testing.T) {
	e, p := upProject(t, `
services:
  ticker:
    image: devorch-test/testapp:latest
    environment: {LOG_RATE: "20", LOG_LINE: "ticker"}
`)
	h := e.Pool.Hosts[0]
	cs, err := e.list(context.Background(), p.Name, listOptions{})
	if err != nil || len(cs) != 1 {
		t.Fatalf("containers: %v %v", cs, err)
	}
	// Wait until the container has a backlog: a few lines in its log.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc, err := h.Client.ContainerLogs(context.Background(), cs[0].ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Count(string(b), "ticker tick") >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container wrote fewer than 5 lines in 30s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bus := NewBus()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, unsub := bus.Subscribe(4096)
	defer unsub()
	m, err := e.NewMonitor(ctx, p.Name, p, bus, MonitorOptions{LogLines: 1000, FollowLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	backlog, live := 0, 0
	var lastBacklog time.Time
	timeout := time.After(30 * time.Second)
	for live < 5 {
		select {
		case ev := <-ch:
			if ev.Kind != KindLog {
				continue
			}
			if ev.Backlog {
				backlog++
				lastBacklog = ev.Time
				if live > 0 {
					t.Errorf("backlog line %q after live lines", ev.Line)
				}
			} else {
				live++
				if !ev.Time.After(lastBacklog) {
					t.Errorf("live line %q stamped %s, not after the last backlog line (%s)", ev.Line, ev.Time.Format(time.StampMicro), lastBacklog.Format(time.StampMicro))
				}
			}
		case <-timeout:
			t.Fatalf("%d backlog and %d live lines in 30s", backlog, live)
		}
	}
	if backlog < 5 {
		t.Errorf("%d lines marked backlog, want at least the 5 written before following", backlog)
	}
}
