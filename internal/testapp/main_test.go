package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestServer(t *testing.T, a *app) *httptest.Server {
	t.Helper()
	if a.exit == nil {
		a.exit = func(code int) { t.Errorf("unexpected exit(%d)", code) }
	}
	if a.start.IsZero() {
		a.start = time.Now()
	}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRootReturnsName(t *testing.T) {
	srv := newTestServer(t, &app{name: "web-1"})
	if code, body := do(t, "GET", srv.URL+"/", ""); code != 200 || body != "web-1\n" {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if code, _ := do(t, "GET", srv.URL+"/nope", ""); code != 404 {
		t.Fatalf("GET /nope = %d, want 404", code)
	}
}

func TestHealthToggle(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "unhealthy")
	srv := newTestServer(t, &app{unhealthyFile: flag})
	if code, body := do(t, "GET", srv.URL+"/health", ""); code != 200 || body != "ok" {
		t.Fatalf("healthy: got %d %q", code, body)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, "GET", srv.URL+"/health", ""); code != 503 {
		t.Fatalf("with %s: got %d, want 503", flag, code)
	}
	os.Remove(flag)
	if code, _ := do(t, "GET", srv.URL+"/health", ""); code != 200 {
		t.Fatalf("after removing flag: got %d, want 200", code)
	}
}

// TestHealthyAfter sets the start time instead of waiting for it to pass:
// a request on a busy machine may take longer than any short delay.
func TestHealthyAfter(t *testing.T) {
	starting := newTestServer(t, &app{start: time.Now(), healthyAfter: time.Hour})
	if code, _ := do(t, "GET", starting.URL+"/health", ""); code != 503 {
		t.Fatalf("before HEALTHY_AFTER: got %d, want 503", code)
	}
	started := newTestServer(t, &app{start: time.Now().Add(-2 * time.Second), healthyAfter: time.Second})
	if code, _ := do(t, "GET", started.URL+"/health", ""); code != 200 {
		t.Fatalf("after HEALTHY_AFTER: got %d, want 200", code)
	}
}

func TestCounter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "count")
	srv := newTestServer(t, &app{})
	for want := 1; want <= 3; want++ {
		code, body := do(t, "GET", srv.URL+"/counter?path="+path, "")
		if code != 200 || strings.TrimSpace(body) != strconv.Itoa(want) {
			t.Fatalf("counter: got %d %q, want %d", code, body, want)
		}
	}
	// Concurrent increments (two "replicas" sharing the file) must not lose updates.
	other := newTestServer(t, &app{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(s *httptest.Server) {
			defer wg.Done()
			do(t, "GET", s.URL+"/counter?path="+path, "")
		}([]*httptest.Server{srv, other}[i%2])
	}
	wg.Wait()
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "23" {
		t.Fatalf("counter file = %q, want 23", b)
	}
}

func TestFileWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "data.txt")
	srv := newTestServer(t, &app{})
	if code, _ := do(t, "GET", srv.URL+"/file?path="+path, ""); code != 404 {
		t.Fatalf("missing file: got %d, want 404", code)
	}
	if code, body := do(t, "POST", srv.URL+"/file?path="+path, "hello\n"); code != 200 {
		t.Fatalf("POST: %d %q", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/file?path="+path, ""); code != 200 || body != "hello\n" {
		t.Fatalf("GET: %d %q", code, body)
	}
}

func TestCall(t *testing.T) {
	backend := newTestServer(t, &app{name: "backend"})
	srv := newTestServer(t, &app{name: "front"})
	if code, body := do(t, "GET", srv.URL+"/call?url="+backend.URL+"/", ""); code != 200 || body != "backend\n" {
		t.Fatalf("call: %d %q", code, body)
	}
	backend.Close()
	if code, _ := do(t, "GET", srv.URL+"/call?url="+backend.URL+"/", ""); code != 502 {
		t.Fatalf("call to closed backend: got %d, want 502", code)
	}
}

func TestExitEndpoint(t *testing.T) {
	got := make(chan int, 1)
	srv := newTestServer(t, &app{exit: func(c int) { got <- c }})
	if code, body := do(t, "GET", srv.URL+"/exit?code=7", ""); code != 200 || body != "exit 7\n" {
		t.Fatalf("exit: %d %q", code, body)
	}
	select {
	case c := <-got:
		if c != 7 {
			t.Fatalf("exit code %d, want 7", c)
		}
	case <-time.After(time.Minute):
		t.Fatal("exit not called")
	}
}

func TestBurn(t *testing.T) {
	srv := newTestServer(t, &app{})
	if code, body := do(t, "GET", srv.URL+"/burn?cpu=0.05", ""); code != 200 || body != "done\n" {
		t.Fatalf("burn cpu: %d %q", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/burn?mem=1&secs=0.01", ""); code != 200 || body != "done\n" {
		t.Fatalf("burn mem: %d %q", code, body)
	}
	if code, _ := do(t, "GET", srv.URL+"/burn", ""); code != 400 {
		t.Fatalf("burn without args: got %d, want 400", code)
	}
}

func TestSubcommands(t *testing.T) {
	dir := t.TempDir()
	health := newTestServer(t, &app{})
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"echo", "a", "b"}, 0, "a b\n"},
		{[]string{"exit", "3"}, 3, "exit 3\n"},
		{[]string{"log", "2"}, 0, "line 1\nline 2\n"},
		{[]string{"write", filepath.Join(dir, "x", "f"), "content"}, 0, ""},
		{[]string{"cat", filepath.Join(dir, "x", "f")}, 0, "content"},
		{[]string{"ls", dir}, 0, "x\n"},
		{[]string{"cat", filepath.Join(dir, "missing")}, 1, ""},
		{[]string{"sleep", "10ms"}, 0, ""},
		{[]string{"health", health.URL + "/health"}, 0, ""},
		{[]string{"get", health.URL + "/health"}, 0, "ok"},
		{[]string{"get", health.URL + "/nope"}, 1, "404 page not found\n"},
		{[]string{"bogus"}, 2, ""},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || out.String() != c.out {
			t.Errorf("%v: code %d out %q (stderr %q), want %d %q", c.args, code, out.String(), errb.String(), c.code, c.out)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int{"64M": 64 << 20, "1G": 1 << 30, "512k": 512 << 10, "100": 100} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseBytes("lots"); err == nil {
		t.Error("parseBytes(lots) succeeded")
	}
}

func TestLoadHoldsMemory(t *testing.T) {
	defer func() { held = nil }()
	if err := load("", "8M"); err != nil || len(held) != 8<<20 {
		t.Fatalf("load(8M): %v, held %d bytes", err, len(held))
	}
	if err := load("x", ""); err == nil {
		t.Error("load accepted BURN_CPU=x")
	}
}
