package hosts

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// fakeDaemon answers Docker's ping until told to hang; every other request
// hangs until the test ends, like a call to a daemon that stopped
// answering.
type fakeDaemon struct {
	hang    atomic.Bool
	release chan struct{}
}

func (d *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_ping" && !d.hang.Load() {
		w.Header().Set("Api-Version", "1.41")
		w.WriteHeader(http.StatusOK)
		return
	}
	select {
	case <-d.release:
	case <-r.Context().Done():
	}
}

func startFake(t *testing.T) (*fakeDaemon, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "devorch-live-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{release: make(chan struct{})}
	srv := &http.Server{Handler: d}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		close(d.release)
		_ = srv.Close()
		os.RemoveAll(dir)
	})
	return d, "unix://" + sock
}

// A call in flight to a host that stops answering ends once the watch has
// declared the host lost, with an error naming it; new calls fail at once;
// the host is usable again when it answers.
func TestWatchAbandonsCallsToALostHost(t *testing.T) {
	d, ep := startFake(t)
	p, err := Open([]Spec{{Name: "far", Endpoint: ep}}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := p.Hosts[0]
	const timeout = 600 * time.Millisecond
	lostSeen := make(chan error, 1)
	stop := Watch(context.Background(), p.Hosts, timeout, func(_ *Host, err error) { lostSeen <- err })
	defer stop()

	// A state-changing call: not cancelled by its context, as the engine
	// sends them (uncancelled).
	done := make(chan error, 1)
	go func() {
		_, err := h.Client.ContainerInspect(context.WithoutCancel(context.Background()), "x")
		done <- err
	}()
	d.hang.Store(true)
	select {
	case err := <-done:
		if !errors.Is(err, ErrHostLost) || !client.IsErrConnectionFailed(err) {
			t.Errorf("in-flight call ended with %v, want a connection failure wrapping ErrHostLost", err)
		}
	case <-time.After(30 * timeout):
		t.Fatal("the in-flight call to the lost host never ended")
	}
	if err := <-lostSeen; err == nil || !errors.Is(err, ErrHostLost) {
		t.Errorf("onLost got %v", err)
	}
	start := time.Now()
	if _, err := h.Client.ContainerInspect(context.Background(), "y"); !errors.Is(err, ErrHostLost) {
		t.Errorf("a new call to the lost host: %v", err)
	}
	if d := time.Since(start); d > timeout {
		t.Errorf("a new call to the lost host took %v", d)
	}
	// It answers pings again: calls reach it again (and hang here, as the
	// fake answers nothing else: bounded by the caller's context).
	d.hang.Store(false)
	deadline := time.Now().Add(30 * timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout/2)
		_, err := h.Client.ContainerInspect(ctx, "z")
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host never came back: %v", err)
		}
		time.Sleep(timeout / 10)
	}
}

// Without a watch nothing is ever declared lost: the transport only adds
// the possibility.
func TestNoWatchNoVerdict(t *testing.T) {
	d, ep := startFake(t)
	p, err := Open([]Spec{{Name: "far", Endpoint: ep}}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d.hang.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Hosts[0].Client.ContainerInspect(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the caller's deadline", err)
	}
}

func TestHostTimeout(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if d := HostTimeout(get); d != DefaultHostTimeout {
		t.Errorf("default %v", d)
	}
	env[EnvHostTimeout] = "4s"
	if d := HostTimeout(get); d != 4*time.Second {
		t.Errorf("4s gave %v", d)
	}
	env[EnvHostTimeout] = "soon"
	if d := HostTimeout(get); d != DefaultHostTimeout {
		t.Errorf("a bad value gave %v", d)
	}
}
