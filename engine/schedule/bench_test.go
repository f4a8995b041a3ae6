package schedule

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchRequest is a large stack on 100 hosts: one replica per service,
// small random reservations, a published port on one service in ten, a
// constraint on one in five.
func benchRequest(services int) Request {
	r := rand.New(rand.NewPCG(7, uint64(services)))
	req := Request{}
	for i := range 100 {
		h := Host{
			Name:        fmt.Sprintf("host-%03d", i),
			Reachable:   i%50 != 49,
			Err:         "timeout",
			NanoCPUs:    64 * cpu,
			MemoryBytes: 256 * gib,
			OS:          "linux",
			Arch:        "x86_64",
			Labels:      map[string]string{"zone": fmt.Sprintf("z%d", i%4), "ssd": fmt.Sprint(i%2 == 0)},
			Containers:  r.IntN(20),
		}
		h.ReservedNanoCPUs = r.Int64N(8 * cpu)
		h.ReservedMemory = r.Int64N(32 * gib)
		h.UsedPorts = map[PortKey]string{tcp(uint16(10000 + r.IntN(50000))): "process"}
		req.Hosts = append(req.Hosts, h)
	}
	for i := range services {
		s := Service{
			Name:             fmt.Sprintf("svc-%06d", i),
			Replicas:         1,
			ReservedNanoCPUs: r.Int64N(cpu / 20),
			ReservedMemory:   r.Int64N(64 * mib),
		}
		if r.IntN(10) == 0 {
			s.Ports = []PortKey{tcp(uint16(10000 + r.IntN(50000)))}
		}
		switch r.IntN(20) {
		case 0, 1:
			s.Constraints = []string{fmt.Sprintf("node.labels.zone==z%d", r.IntN(4))}
		case 2:
			s.Constraints = []string{fmt.Sprintf("node.hostname!=host-%03d", r.IntN(100))}
		case 3:
			s.Constraints = []string{"node.labels.ssd==true", "node.platform.os==linux"}
		}
		req.Services = append(req.Services, s)
	}
	return req
}

func BenchmarkPlace(b *testing.B) {
	for _, c := range []struct {
		services int
		explain  bool
	}{{1000, false}, {10000, false}, {100000, false}, {1000, true}} {
		name := fmt.Sprintf("services=%d", c.services)
		if c.explain {
			name += "/explain"
		}
		b.Run(name, func(b *testing.B) {
			req := benchRequest(c.services)
			req.Explain = c.explain
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Place(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
