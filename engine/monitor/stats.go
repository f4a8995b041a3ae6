package monitor

import (
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Sample is one computed resource reading for a container.
type Sample struct {
	Time       time.Time
	CPUPercent float64 // of one CPU: 200 means two full CPUs, as docker stats shows
	OnlineCPUs uint32
	MemUsage   uint64 // usage minus inactive file cache, as docker stats shows
	MemLimit   uint64
	NetRx      uint64 // cumulative bytes
	NetTx      uint64
	BlockRead  uint64 // cumulative bytes
	BlockWrite uint64
	Pids       uint64
	// Throttled says the kernel throttled the container's CPU (its CPU
	// limit) since the previous reading.
	Throttled bool
}

// Rates are per-second differences between two samples.
type Rates struct {
	NetRx, NetTx, BlockRead, BlockWrite float64
}

// computeSample turns a Docker stats reading into a Sample. prev is the
// previous reading of the same container (one-shot readings carry no
// precpu); with it nil, the reading's own precpu is used. The CPU formula
// is the docker CLI's: Δcontainer / Δsystem × online CPUs × 100.
func computeSample(s *container.StatsResponse, prev *container.CPUStats) Sample {
	out := Sample{Time: s.Read, MemLimit: s.MemoryStats.Limit, Pids: s.PidsStats.Current}
	pre := s.PreCPUStats
	if prev != nil {
		pre = *prev
	}
	online := s.CPUStats.OnlineCPUs
	if online == 0 {
		online = uint32(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	out.OnlineCPUs = online
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(pre.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(pre.SystemUsage)
	if sysDelta > 0 && cpuDelta > 0 && pre.SystemUsage > 0 {
		out.CPUPercent = cpuDelta / sysDelta * float64(online) * 100
	}
	out.Throttled = s.CPUStats.ThrottlingData.ThrottledPeriods > pre.ThrottlingData.ThrottledPeriods
	out.MemUsage = memUsage(s.MemoryStats)
	for _, n := range s.Networks {
		out.NetRx += n.RxBytes
		out.NetTx += n.TxBytes
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			out.BlockRead += e.Value
		case "write":
			out.BlockWrite += e.Value
		}
	}
	return out
}

// memUsage is usage minus the inactive file cache: total_inactive_file on
// cgroup v1, inactive_file on cgroup v2 (as the docker CLI computes it).
func memUsage(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v, ok := m.Stats["inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

// rates returns the per-second IO rates between two samples.
func rates(prev, cur Sample) Rates {
	dt := cur.Time.Sub(prev.Time).Seconds()
	if dt <= 0 {
		return Rates{}
	}
	d := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b-a) / dt
	}
	return Rates{NetRx: d(prev.NetRx, cur.NetRx), NetTx: d(prev.NetTx, cur.NetTx), BlockRead: d(prev.BlockRead, cur.BlockRead), BlockWrite: d(prev.BlockWrite, cur.BlockWrite)}
}
