package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
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
// (Watch) pings the hosts a run uses; when one has not answered for a
// while it is declared lost: every call to it in flight is abandoned and
// new ones fail at once with ErrHostLost, until it answers a ping again.

// ErrHostLost is what calls to a host declared lost fail with.
var ErrHostLost = errors.New("host stopped answering")

// EnvHostTimeout overrides how long a host may leave pings unanswered
// before a run declares it lost (a Go duration, default 15s).
const EnvHostTimeout = "DEVORCH_HOST_TIMEOUT"

// DefaultHostTimeout is how long a host may leave pings unanswered.
const DefaultHostTimeout = 15 * time.Second

// liveness is a host's lost-or-not state, read by its transport.
type liveness struct {
	mu     sync.Mutex
	lost   context.Context // cancelled when the host is declared lost
	cancel context.CancelFunc
	err    error
}

func newLiveness() *liveness {
	l := &liveness{}
	l.lost, l.cancel = context.WithCancel(context.Background())
	return l
}

// current returns the context cancelled when the host is declared lost, and
// the error to report then.
func (l *liveness) current() (context.Context, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost, l.err
}

func (l *liveness) markLost(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost.Err() == nil {
		l.err = err
		l.cancel()
	}
}

func (l *liveness) markAlive() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost.Err() != nil {
		l.lost, l.cancel = context.WithCancel(context.Background())
		l.err = nil
	}
}

type probeKey struct{}

// liveTransport abandons a host's requests when it is declared lost. Its
// own liveness pings pass through (they are how it comes back).
type liveTransport struct {
	base http.RoundTripper
	live *liveness
}

func (t *liveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(probeKey{}) != nil {
		return t.base.RoundTrip(req)
	}
	lost, lostErr := t.live.current()
	if lost.Err() != nil {
		return nil, lostErr
	}
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(lost, cancel)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		if lost.Err() != nil {
			_, lostErr = t.live.current()
			return nil, lostErr
		}
		return nil, err
	}
	// Streams (events, logs) are cut when the host is lost, too.
	resp.Body = &liveBody{ReadCloser: resp.Body, lost: lost, live: t.live, done: func() { stop(); cancel() }}
	return resp, nil
}

type liveBody struct {
	io.ReadCloser
	lost context.Context
	live *liveness
	once sync.Once
	done func()
}

func (b *liveBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.lost.Err() != nil {
		_, lostErr := b.live.current()
		return n, lostErr
	}
	return n, err
}

func (b *liveBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// withLiveness is the client option that routes the client's requests
// through the host's liveness.
func withLiveness(l *liveness) client.Opt {
	return func(c *client.Client) error {
		hc := c.HTTPClient()
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = &liveTransport{base: base, live: l}
		return client.WithHTTPClient(hc)(c)
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

// Watch pings the hosts every timeout/5 until the returned stop is called.
// A host that answers no ping for timeout is declared lost (its calls fail
// with ErrHostLost, naming it), and onLost is called once for it; a lost
// host that answers again is usable again. The verdict lasts as long as
// the watch: after stop, the next run asks the host afresh.
func Watch(ctx context.Context, hs []*Host, timeout time.Duration, onLost func(h *Host, err error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	every := timeout / 5
	for _, h := range hs {
		if h.live == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
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
				pctx, pcancel := context.WithTimeout(context.WithValue(ctx, probeKey{}, true), timeout)
				_, err := h.Client.Ping(pctx)
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
