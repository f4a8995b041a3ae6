package hosts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/client"
)

// A host can stop answering in the middle of a run: its machine went to
// sleep, the network between dropped, its dockerd hangs. Docker calls that
// change state are not cancelled when devorch is interrupted (see the
// engine's uncancelled), and nothing bounds them in time, so without help
// a call to such a host waits forever, and the run with it. A watchdog
// (Watch) pings the hosts a run uses, on connections of its own; when one
// has not answered for a while it is declared lost: the client's
// connections to it are closed, so every call in flight ends, and new ones
// fail at once with ErrHostLost, until it answers a ping again.
//
// This works on the client's connections rather than on its HTTP transport:
// the Docker client reads TLS settings and the dialer for hijacked streams
// (exec, attach) from its *http.Transport, which therefore stays in place.

// ErrHostLost is what calls to a host declared lost fail with.
var ErrHostLost = errors.New("host stopped answering")

// EnvHostTimeout overrides how long a host may leave pings unanswered
// before a run declares it lost (a Go duration, default 15s).
const EnvHostTimeout = "DEVORCH_HOST_TIMEOUT"

// DefaultHostTimeout is how long a host may leave pings unanswered.
const DefaultHostTimeout = 15 * time.Second

// liveness is a host's lost-or-not state and the client connections it
// cuts when the host is lost.
type liveness struct {
	mu    sync.Mutex
	err   error // non-nil while the host is declared lost
	conns map[*liveConn]bool
}

func newLiveness() *liveness { return &liveness{conns: map[*liveConn]bool{}} }

func (l *liveness) lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *liveness) markLost(err error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = err
	conns := l.conns
	l.conns = map[*liveConn]bool{}
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

func (l *liveness) markAlive() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = nil
}

// track registers a new connection, unless the host is lost.
func (l *liveness) track(c *liveConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.conns[c] = true
	return nil
}

func (l *liveness) forget(c *liveConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// liveConn is a client connection that reports ErrHostLost (naming the
// host) once the host is declared lost.
type liveConn struct {
	net.Conn
	live *liveness
}

func (c *liveConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		if lerr := c.live.lost(); lerr != nil {
			return n, lerr
		}
	}
	return n, err
}

func (c *liveConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		if lerr := c.live.lost(); lerr != nil {
			return n, lerr
		}
	}
	return n, err
}

func (c *liveConn) Close() error {
	c.live.forget(c)
	return c.Conn.Close()
}

// CloseWrite keeps half-closing working for hijacked streams.
func (c *liveConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// withLiveness is the client option that routes the client's connections
// through the host's liveness. It must come after the options that set
// the transport's dialer (host, ssh).
func withLiveness(l *liveness) client.Opt {
	return func(c *client.Client) error {
		tr, ok := c.HTTPClient().Transport.(*http.Transport)
		if !ok {
			return fmt.Errorf("cannot watch the liveness of transport %T", c.HTTPClient().Transport)
		}
		dial := tr.DialContext
		switch {
		case dial != nil:
		case tr.Dial != nil: //nolint:staticcheck // what go-connections sets for unix sockets
			d := tr.Dial //nolint:staticcheck
			dial = func(_ context.Context, network, addr string) (net.Conn, error) { return d(network, addr) }
			tr.Dial = nil //nolint:staticcheck
		default:
			dial = (&net.Dialer{}).DialContext
		}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := l.lost(); err != nil {
				return nil, err
			}
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			lc := &liveConn{Conn: conn, live: l}
			if err := l.track(lc); err != nil {
				conn.Close()
				return nil, err
			}
			return lc, nil
		}
		return nil
	}
}

// HostTimeout is how long a host may leave pings unanswered before a run
// declares it lost: DEVORCH_HOST_TIMEOUT, or DefaultHostTimeout.
func HostTimeout(getenv func(string) string) time.Duration {
	if d, err := time.ParseDuration(getenv(EnvHostTimeout)); err == nil && d > 0 {
		return d
	}
	return DefaultHostTimeout
}

// Watch pings the hosts every timeout/5, each on a client of its own,
// until the returned stop is called. A host that answers no ping for
// timeout is declared lost (its calls fail with ErrHostLost, naming it),
// and onLost is called once for it; a lost host that answers again is
// usable again. The verdict lasts as long as the watch: after stop, the
// next run asks the host afresh.
func Watch(ctx context.Context, hs []*Host, timeout time.Duration, onLost func(h *Host, err error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	every := timeout / 5
	for _, h := range hs {
		if h.live == nil {
			continue
		}
		// Pings go on connections of their own: the client's are the ones
		// cut when the host is lost.
		probe, err := newClient(h.Spec, h.sshArgs)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer probe.Close()
			last := time.Now()
			lost := false
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				pctx, pcancel := context.WithTimeout(ctx, timeout)
				_, err := probe.Ping(pctx)
				pcancel()
				if ctx.Err() != nil {
					return
				}
				switch {
				case err == nil:
					last = time.Now()
					if lost {
						h.live.markAlive()
						lost = false
					}
				case !lost && time.Since(last) >= timeout:
					lost = true
					lerr := fmt.Errorf("host %q (%s): %w: no answer for %s (last: %v)", h.Name, h.Endpoint, ErrHostLost, time.Since(last).Round(time.Second), err)
					h.live.markLost(lerr)
					if onLost != nil {
						onLost(h, lerr)
					}
				}
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		for _, h := range hs {
			if h.live != nil {
				h.live.markAlive()
			}
		}
	}
}
