package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/devorch/devorch/internal/labels"
)

// TestDownLeavesNothingRoundAfterRound: a 20-service stack on one network,
// brought up (waiting for health where there is a check), up again (a
// no-op), then down, DEVORCH_DOWN_ROUNDS times (`make test-down`: twenty,
// about seven minutes here; `make test`: four, to keep the suite short);
// every round must leave nothing. Docker 20.10 loses count of a
// network's endpoints when containers leave it at the same moment, and down
// then failed to remove the network ("has active endpoints", no container
// attached) in about one round in six: netctl.Lanes prevents it. It lives
// in this package, beside the long command tests rather than among them.
func TestDownLeavesNothingRoundAfterRound(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "  s%02d:\n    image: devorch-test/testapp:latest\n", i)
		if i%5 == 0 {
			// Health probes running at the stop, on a few: twenty
			// probing every second would load a two-core machine.
			b.WriteString("    healthcheck: {test: [\"CMD\", \"/testapp\", \"health\"], interval: 1s}\n")
		}
	}
	e, p := upProject(t, b.String())
	ctx := context.Background()
	cli := e.Pool.Hosts[0].Client
	f := labels.ProjectFilter(p.Name)
	rounds := 4
	if n, err := strconv.Atoi(os.Getenv("DEVORCH_DOWN_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for round := 1; round <= rounds; round++ {
		start := time.Now()
		if round > 1 {
			if _, err := e.Up(ctx, p, UpOptions{Wait: true, WaitTimeout: eventDeadline}); err != nil {
				t.Fatalf("round %d: up: %v", round, err)
			}
		}
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil || len(cs) != 20 {
			t.Fatalf("round %d: %d containers after up (%v), want 20", round, len(cs), err)
		}
		if _, err := e.Up(ctx, p, UpOptions{}); err != nil {
			t.Fatalf("round %d: no-op up: %v", round, err)
		}
		var left []string
		e.Sink = func(ev Event) {
			if ev.Kind == KindWarning {
				left = append(left, ev.Detail)
			}
		}
		downStart := time.Now()
		if err := e.Down(ctx, p.Name, p, DownOptions{}); err != nil {
			t.Fatalf("round %d: down: %v", round, err)
		}
		e.Sink = nil
		cs, _ = cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		vs, _ := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		if len(cs)+len(ns)+len(vs.Volumes) > 0 || len(left) > 0 {
			t.Fatalf("round %d: down left %d containers, %d networks, %d volumes; warned %q", round, len(cs), len(ns), len(vs.Volumes), left)
		}
		t.Logf("round %d: %s (down %s)", round, time.Since(start).Round(time.Millisecond), time.Since(downStart).Round(time.Millisecond))
	}
}
