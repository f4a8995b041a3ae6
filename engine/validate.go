package engine

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/plan"
)

// validate checks, before anything is created, that the plan can succeed
// (plan.Validate): it reads what the check needs, the containers on every
// host and, on this machine, whether a process holds a port the plan claims.
func (e *Engine) validate(ctx context.Context, p *compose.Project, pn *Plan, w *world) error {
	busy := map[string]map[plan.Port]error{}
	for _, cl := range plan.Claims(p, pn) {
		h := e.Pool.Get(cl.Host)
		if h == nil || !isLocal(h.Endpoint, h.Address) {
			continue
		}
		if busy[cl.Host] == nil {
			busy[cl.Host] = map[plan.Port]error{}
		}
		if _, probed := busy[cl.Host][cl.Port]; !probed {
			busy[cl.Host][cl.Port] = probePort(cl.HostIP, cl.Port.Port, cl.Proto)
		}
	}
	return plan.Validate(p, pn, plan.World{Containers: w.all, Busy: busy})
}

// isLocal reports whether a host's published ports are this machine's: a
// unix socket endpoint with no separate address.
func isLocal(endpoint, address string) bool {
	return strings.HasPrefix(endpoint, "unix://") && address == ""
}

// probePort tries to bind the port, to find processes that hold it.
func probePort(ip string, port int, proto string) error {
	if ip == "" {
		ip = "0.0.0.0"
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if proto != "tcp" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
