package monitor

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/devorch/devorch/engine/event"
	"github.com/docker/docker/api/types/container"
)

func loadStats(t *testing.T, name string) *container.StatsResponse {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var s container.StatsResponse
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// The docker CLI's formulas on a cgroup v1 reading taken on this machine
// and on a recorded cgroup v2 reading.
func TestComputeSample(t *testing.T) {
	v1 := loadStats(t, "stats_v1.json")
	s := computeSample(v1, nil)
	// Numbers written out from testdata/stats_v1.json (a cgroup v1 reading):
	// (676622327-438128076) / (3316160000000-3314070000000) × 2 CPUs × 100.
	if math.Abs(s.CPUPercent-22.822416363636364) > 1e-9 {
		t.Errorf("v1 cpu %v, want 22.8224", s.CPUPercent)
	}
	// usage 7729152 minus total_inactive_file 5853184 (cgroup v1's key;
	// v2 calls it inactive_file).
	if s.MemUsage != 7729152-5853184 || s.MemLimit != 25325268992 {
		t.Errorf("v1 mem %d/%d, want 1875968/25325268992", s.MemUsage, s.MemLimit)
	}
	v2 := loadStats(t, "stats_v2.json")
	s = computeSample(v2, nil)
	// (3.5e9-2.5e9) / (104e9-100e9) × 4 × 100 = 100%
	if math.Abs(s.CPUPercent-100) > 1e-9 {
		t.Errorf("v2 cpu %v, want 100", s.CPUPercent)
	}
	if s.MemUsage != 52428800-6291456 || s.MemLimit != 536870912 {
		t.Errorf("v2 mem %d/%d", s.MemUsage, s.MemLimit)
	}
	if s.NetRx != 150000 || s.NetTx != 50000 || s.BlockRead != 4096000 || s.BlockWrite != 1024000 || s.Pids != 12 || s.OnlineCPUs != 4 {
		t.Errorf("v2 io %+v", s)
	}
	// With a previous reading given (one-shot reads have no precpu).
	prev := v2.PreCPUStats
	v2.PreCPUStats = container.CPUStats{}
	if s2 := computeSample(v2, &prev); math.Abs(s2.CPUPercent-100) > 1e-9 {
		t.Errorf("with prev: %v", s2.CPUPercent)
	}
	later := s
	later.Time = s.Time.Add(2 * time.Second)
	later.NetRx += 2000
	later.BlockWrite += 4096
	r := rates(s, later)
	if r.NetRx != 1000 || r.BlockWrite != 2048 || r.NetTx != 0 {
		t.Errorf("rates %+v", r)
	}
}

func TestAlertRules(t *testing.T) {
	rules, err := parseAlertRules("api", map[string]string{"cpu": "90%/30s", "memory": "80%/1m"})
	if err != nil || len(rules) != 2 || rules[0].kind != "cpu" || rules[0].percent != 90 || rules[0].hold != 30*time.Second || rules[1].hold != time.Minute {
		t.Fatalf("%+v %v", rules, err)
	}
	for _, bad := range []map[string]string{{"disk": "1%/1s"}, {"cpu": "90/30s"}, {"cpu": "x%/30s"}, {"cpu": "90%/soon"}} {
		if _, err := parseAlertRules("api", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestRingIsBounded(t *testing.T) {
	r := newRing(3)
	for i := 0; i < 10; i++ {
		r.add(LogLine{Text: string(rune('a' + i))})
	}
	got := r.snapshot()
	if len(got) != 3 || got[0].Text != "h" || got[2].Text != "j" {
		t.Errorf("%v", got)
	}
}

// TestMemUsage: cgroup v1 readings carry both keys (inactive_file for the
// cgroup alone, total_inactive_file with its children); the total wins, as
// in the docker CLI.
func TestMemUsage(t *testing.T) {
	for _, c := range []struct {
		name  string
		usage uint64
		stats map[string]uint64
		want  uint64
	}{
		{"v1 with children", 1000, map[string]uint64{"inactive_file": 100, "total_inactive_file": 300}, 700},
		{"v2", 1000, map[string]uint64{"inactive_file": 100}, 900},
		{"no cache figures", 1000, nil, 1000},
		{"cache above usage is ignored", 1000, map[string]uint64{"inactive_file": 2000}, 1000},
	} {
		if got := memUsage(container.MemoryStats{Usage: c.usage, Stats: c.stats}); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// A container whose memory grows steadily toward its limit raises one
// memory-growth alert; one that is flat, or grows too slowly to get there
// within the horizon, raises none.
func TestMemoryGrowthAlert(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	run := func(limit uint64, mem func(i int) uint64) []Alert {
		m := &Monitor{bus: event.NewBus(), o: Options{GrowthHorizon: 30 * time.Minute}}
		st := &ContainerState{}
		st.ID, st.Name, st.Service, st.MemLimitSet = "c1", "p-api-1", "api", limit
		for i := 0; i < 40; i++ { // 40 readings 5 s apart: 195 s
			m.checkGrowth(st, Sample{Time: t0.Add(time.Duration(i) * 5 * time.Second), MemUsage: mem(i), MemLimit: 8 << 30})
		}
		return m.Alerts(true)
	}
	const mib = 1 << 20
	a := run(200*mib, func(i int) uint64 { return uint64(100*mib + i*mib) }) // 0.2 MiB/s: the limit in ~6 min
	if len(a) != 1 || a[0].Kind != "memory-growth" || !strings.Contains(a[0].Message, "reaches its limit (200MiB)") {
		t.Errorf("growing toward the limit: %+v", a)
	}
	if a := run(200*mib, func(i int) uint64 { return 100 * mib }); len(a) != 0 {
		t.Errorf("flat: %+v", a)
	}
	if a := run(4096*mib, func(i int) uint64 { return uint64(100*mib + i*mib) }); len(a) != 0 {
		t.Errorf("the limit hours away: %+v", a)
	}
	// Without a limit of its own, the host's memory is the limit.
	if a := run(0, func(i int) uint64 { return uint64(8<<30 - 50*mib + i*mib) }); len(a) != 1 {
		t.Errorf("growing toward the host's memory: %+v", a)
	}
}
