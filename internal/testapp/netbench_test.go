package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}, {0.5, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v of 1..100 ms = %v, want %v", c.p, got, c.want)
		}
	}
	one := []time.Duration{7 * time.Millisecond}
	if got := percentile(one, 99); got != one[0] {
		t.Errorf("p99 of one value = %v", got)
	}
	// 1,000 calls: p99 is the 990th value, so the 10 slowest can be outliers.
	ds = make([]time.Duration, 1000)
	for i := range ds {
		ds[i] = time.Millisecond
	}
	for i := 990; i < 1000; i++ {
		ds[i] = time.Second
	}
	if got := percentile(ds, 99); got != time.Millisecond {
		t.Errorf("p99 with 10 outliers in 1,000 = %v, want 1ms", got)
	}
	ds[989] = time.Second
	if got := percentile(ds, 99); got != time.Second {
		t.Errorf("p99 with 11 outliers in 1,000 = %v, want 1s", got)
	}
}

func TestSummarizeSortsAndConverts(t *testing.T) {
	r := summarize([]time.Duration{3 * time.Millisecond, 1 * time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond})
	if r.Calls != 4 || r.Min != 1 || r.Max != 3 || r.P50 != 1.5 || r.P99 != 3 || r.Mean != 1.875 {
		t.Errorf("summarize = %+v", r)
	}
	if r := summarize(nil); r.Calls != 0 || r.P50 != 0 {
		t.Errorf("summarize(nil) = %+v", r)
	}
}

func TestBytesEndpoint(t *testing.T) {
	srv := newTestServer(t, &app{name: "x"})
	for _, n := range []int{0, 1, 65536, 65537, 300000} {
		resp, err := http.Get(srv.URL + "/bytes?n=" + strconv.Itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || buf.Len() != n || resp.ContentLength != int64(n) {
			t.Errorf("/bytes?n=%d: status %d, %d bytes, Content-Length %d", n, resp.StatusCode, buf.Len(), resp.ContentLength)
		}
	}
	for _, q := range []string{"", "?n=-1", "?n=x"} {
		if code, _ := do(t, "GET", srv.URL+"/bytes"+q, ""); code != 400 {
			t.Errorf("/bytes%s = %d, want 400", q, code)
		}
	}
}

// countingServer counts requests and the TCP connections they came on.
func countingServer(t *testing.T) (srv *httptest.Server, requests, conns *atomic.Int64) {
	t.Helper()
	requests, conns = new(atomic.Int64), new(atomic.Int64)
	h := (&app{name: "callee"}).handler()
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, requests, conns
}

func TestMeasureLatencyConnections(t *testing.T) {
	for _, keepAlive := range []bool{false, true} {
		srv, requests, conns := countingServer(t)
		r, err := measureLatency(context.Background(), srv.URL+"/", latencyOptions{Calls: 50, Warmup: 5, KeepAlive: keepAlive})
		if err != nil {
			t.Fatal(err)
		}
		if requests.Load() != 55 || r.Calls != 50 || r.Warmup != 5 || r.KeepAlive != keepAlive {
			t.Errorf("keepalive %v: %d requests, result %+v", keepAlive, requests.Load(), r)
		}
		if want := map[bool]int64{false: 55, true: 1}[keepAlive]; conns.Load() != want {
			t.Errorf("keepalive %v: %d connections, want %d", keepAlive, conns.Load(), want)
		}
		if !(r.Min > 0 && r.Min <= r.P50 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.Max) || r.Addr == "" {
			t.Errorf("keepalive %v: %+v", keepAlive, r)
		}
	}
}

func TestMeasureLatencyStopsAtAFailure(t *testing.T) {
	srv := newTestServer(t, &app{name: "x"})
	if _, err := measureLatency(context.Background(), srv.URL+"/nope", latencyOptions{Calls: 10}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404 gave %v", err)
	}
	if _, err := measureLatency(context.Background(), "https://127.0.0.1:1/", latencyOptions{Calls: 1}); err == nil {
		t.Error("an https URL was accepted")
	}
	if _, err := measureLatency(context.Background(), srv.URL+"/", latencyOptions{Calls: 0}); err == nil {
		t.Error("0 calls was accepted")
	}
}

func TestMeasureTransfer(t *testing.T) {
	srv := newTestServer(t, &app{name: "x"})
	r, err := measureTransfer(context.Background(), srv.URL+"/bytes?n=5000000")
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes != 5000000 || r.MBps <= 0 || r.Addr == "" {
		t.Errorf("transfer = %+v", r)
	}
	// A body cut short is an error, not a fast transfer.
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 10))
	}))
	t.Cleanup(short.Close)
	if _, err := measureTransfer(context.Background(), short.URL); err == nil {
		t.Error("a short body was accepted")
	}
}

func TestBenchAndPullCommandsAndEndpoints(t *testing.T) {
	srv := newTestServer(t, &app{name: "x"})
	var out, errb bytes.Buffer
	if code := run([]string{"bench", "-n", "20", "-warmup", "0", "-keepalive", srv.URL + "/"}, &out, &errb); code != 0 {
		t.Fatalf("bench: exit %d, %s", code, errb.String())
	}
	var lr latencyResult
	if err := json.Unmarshal(out.Bytes(), &lr); err != nil || lr.Calls != 20 || !lr.KeepAlive || lr.P50 <= 0 {
		t.Errorf("bench printed %q (%v)", out.String(), err)
	}
	out.Reset()
	if code := run([]string{"pull", srv.URL + "/bytes?n=1000"}, &out, &errb); code != 0 {
		t.Fatalf("pull: exit %d, %s", code, errb.String())
	}
	var tr transferResult
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil || tr.Bytes != 1000 {
		t.Errorf("pull printed %q (%v)", out.String(), err)
	}
	if code := run([]string{"bench"}, &out, &errb); code != 2 {
		t.Errorf("bench without URL: exit %d", code)
	}
	if code := run([]string{"pull", srv.URL + "/nope"}, &out, &errb); code != 1 {
		t.Errorf("pull of a 404: exit %d", code)
	}

	code, body := do(t, "GET", srv.URL+"/bench?n=10&warmup=1&url="+srv.URL+"/", "")
	if err := json.Unmarshal([]byte(body), &lr); code != 200 || err != nil || lr.Calls != 10 || lr.KeepAlive {
		t.Errorf("/bench = %d %q", code, body)
	}
	code, body = do(t, "GET", srv.URL+"/pull?url="+srv.URL+"/bytes%3Fn%3D2000", "")
	if err := json.Unmarshal([]byte(body), &tr); code != 200 || err != nil || tr.Bytes != 2000 {
		t.Errorf("/pull = %d %q", code, body)
	}
	for _, q := range []string{"/bench", "/bench?url=x&n=y", "/pull"} {
		if code, _ := do(t, "GET", srv.URL+q, ""); code != 400 {
			t.Errorf("%s = %d, want 400", q, code)
		}
	}
	if code, _ := do(t, "GET", srv.URL+"/pull?url="+srv.URL+"/nope", ""); code != 502 {
		t.Errorf("/pull of a 404 = %d, want 502", code)
	}
}
