package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devorch/devorch/compose"
	usagehist "github.com/devorch/devorch/engine/usage"
)

// stats --record samples a service that keeps a known share of a CPU busy
// and holds a known amount of memory; tune then bases its numbers on what
// it observed within ±20 % of the truth, and --write gives an override file
// that compose-go loads and up applies, recreating only that service.
func TestStatsRecordAndTune(t *testing.T) {
	t.Parallel()
	const burn, hold = 0.3, 96 << 20
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  hog:
    image: devorch-test/testapp:latest
    environment: {BURN_CPU: "0.3", HOLD_MEM: "96M"}
  idle:
    image: devorch-test/testapp:latest
`})
	s.must("up", "-d", "--wait")
	if r := s.fails("tune", "--write"); !strings.Contains(r.stderr, "no service has enough usage history") {
		t.Errorf("tune --write without history: %s", r)
	}
	if r := s.must("tune"); !strings.Contains(r.stdout, "too little history") {
		t.Errorf("tune without history does not say so:\n%s", r.stdout)
	}
	if r := s.must("stats", "--no-stream", "--format", "json"); len(jsonLines(t, r.stdout)) != 2 {
		t.Errorf("stats --no-stream: want one line per container:\n%s", r.stdout)
	}
	r := s.must("stats", "--record", "40s")
	if !strings.Contains(r.stderr, "Recorded") {
		t.Errorf("stats --record does not say what it recorded:\n%s", r.stderr)
	}
	r = s.must("tune", "--format", "json")
	var out struct {
		Services []tuneJSON `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("tune --format json: %v\n%s", err, r.stdout)
	}
	within := func(got, want float64) bool { return got >= want*0.8 && got <= want*1.2 }
	var hog *tuneJSON
	for i := range out.Services {
		if out.Services[i].Service == "hog" {
			hog = &out.Services[i]
		}
	}
	if hog == nil || !hog.Enough {
		t.Fatalf("no recommendation for hog: %+v\n%s", hog, r.stdout)
	}
	if !within(hog.CPUP95/100, burn) || !within(float64(hog.MemP99), hold) {
		t.Errorf("hog observed CPU p95 %.1f%% and memory p99 %d MiB, want within 20 %% of %.0f%% and %d MiB", hog.CPUP95, hog.MemP99>>20, burn*100, hold>>20)
	}
	// Reservations are that with 20 % headroom, rounded up to a step
	// (0.05 CPUs, 16 MiB).
	near := func(got, want, step float64) bool { return got >= want*0.8 && got <= want*1.2+step }
	if !near(hog.ReserveCPUs, burn*1.2, usagehist.CPUStep) || !near(float64(hog.ReserveMemory), hold*1.2, usagehist.MemStep) {
		t.Errorf("hog reservations %.2f CPUs, %d MiB, want the truth with 20 %% headroom (±20 %%, rounded up)", hog.ReserveCPUs, hog.ReserveMemory>>20)
	}

	// --write hog: an override with its deploy.resources only.
	s.must("tune", "hog", "--write")
	override := filepath.Join(s.dir, "compose.tune.yaml")
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{filepath.Join(s.dir, "compose.yaml"), override}, Environ: os.Environ()})
	if err != nil {
		t.Fatalf("compose-go does not load the override: %v", err)
	}
	res := p.Services["hog"].Deploy
	if res == nil || res.Resources.Reservations == nil || res.Resources.Limits == nil || uint64(res.Resources.Limits.MemoryBytes) != hog.LimitMemory {
		t.Fatalf("hog's deploy.resources from the override: %+v", res)
	}
	if d := p.Services["idle"].Deploy; d != nil && d.Resources.Limits != nil {
		t.Errorf("idle got resources it was not asked for: %+v", d.Resources)
	}
	r = s.must("-f", filepath.Join(s.dir, "compose.yaml"), "-f", override, "up", "-d", "--wait")
	if !strings.Contains(r.stderr, s.name("hog", 1)+"  Recreate") || strings.Contains(r.stderr, s.name("idle", 1)+"  Recreate") {
		t.Errorf("up with the override, want only hog recreated:\n%s", r.stderr)
	}
	insp, err := s.cli.ContainerInspect(context.Background(), s.name("hog", 1))
	if err != nil {
		t.Fatal(err)
	}
	if uint64(insp.HostConfig.Memory) != hog.LimitMemory || insp.HostConfig.NanoCPUs == 0 {
		t.Errorf("hog runs with memory limit %d and %d nano CPUs, want %d", insp.HostConfig.Memory, insp.HostConfig.NanoCPUs, hog.LimitMemory)
	}
	s.must("down")
}

// tuneJSON is the part of one service of `tune --format json` the test reads.
type tuneJSON struct {
	Service       string  `json:"service"`
	Enough        bool    `json:"enough"`
	Why           string  `json:"why"`
	CPUP95        float64 `json:"cpu_p95_percent"`
	MemP99        uint64  `json:"memory_p99_bytes"`
	ReserveCPUs   float64 `json:"reserve_cpus"`
	ReserveMemory uint64  `json:"reserve_memory_bytes"`
	LimitMemory   uint64  `json:"limit_memory_bytes"`
}
