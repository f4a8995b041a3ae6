package main

// Network measurements for bench/network/run.sh: /bytes streams N bytes,
// and the bench and pull subcommands (and endpoints) time requests from
// inside a container — many small ones for latency, one big one for
// throughput.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// bytesChunk is what /bytes repeats: printable, so that a body shown by
// mistake is still readable.
var bytesChunk = []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB

// serveBytes answers /bytes?n=N with exactly N bytes (Content-Length set).
func serveBytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "need n=BYTES (a non-negative integer)", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead {
		return
	}
	for n > 0 {
		c := bytesChunk
		if int64(len(c)) > n {
			c = c[:n]
		}
		m, err := w.Write(c)
		if err != nil {
			return
		}
		n -= int64(m)
	}
}

// latencyOptions: Calls timed requests after Warmup untimed ones; with
// KeepAlive off every call opens a new TCP connection.
type latencyOptions struct {
	Calls     int
	Warmup    int
	KeepAlive bool
}

// latencyResult is what bench prints, in milliseconds.
type latencyResult struct {
	URL       string  `json:"url"`
	Addr      string  `json:"addr"` // the address dialled (the name resolved once, before timing)
	Calls     int     `json:"calls"`
	Warmup    int     `json:"warmup"`
	KeepAlive bool    `json:"keepalive"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	Min       float64 `json:"min_ms"`
	Max       float64 `json:"max_ms"`
	Mean      float64 `json:"mean_ms"`
	Seconds   float64 `json:"seconds"` // wall time of the timed calls
}

// transferResult is what pull prints; MB is 10^6 bytes.
type transferResult struct {
	URL     string  `json:"url"`
	Addr    string  `json:"addr"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_s"`
}

// pinnedClient resolves rawURL's host once and returns a client that always
// dials that address, so that neither a DNS query per connection (Docker's
// embedded DNS) nor /etc/hosts is part of what is timed.
func pinnedClient(ctx context.Context, rawURL string, keepAlive bool) (*http.Client, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("%s: only http:// URLs", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil, "", err
	}
	if len(ips) == 0 {
		return nil, "", fmt.Errorf("%s: no address", host)
	}
	addr := net.JoinHostPort(ips[0], port)
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives:   !keepAlive,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}, addr, nil
}

// fetch GETs rawURL with c, reads the whole body and returns its length; a
// non-2xx status or a body shorter than its Content-Length is an error.
func fetch(ctx context.Context, c *http.Client, rawURL string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return n, fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("GET %s: %d bytes of %d", rawURL, n, resp.ContentLength)
	}
	return n, nil
}

// measureLatency times o.Calls sequential GETs of rawURL (each until its
// body is read); the first failure ends it.
func measureLatency(ctx context.Context, rawURL string, o latencyOptions) (latencyResult, error) {
	if o.Calls < 1 || o.Warmup < 0 {
		return latencyResult{}, errors.New("need at least one call and no negative warm-up")
	}
	c, addr, err := pinnedClient(ctx, rawURL, o.KeepAlive)
	if err != nil {
		return latencyResult{}, err
	}
	defer c.CloseIdleConnections()
	for i := 0; i < o.Warmup; i++ {
		if _, err := fetch(ctx, c, rawURL); err != nil {
			return latencyResult{}, fmt.Errorf("warm-up call %d: %w", i+1, err)
		}
	}
	ds := make([]time.Duration, o.Calls)
	start := time.Now()
	for i := range ds {
		t := time.Now()
		if _, err := fetch(ctx, c, rawURL); err != nil {
			return latencyResult{}, fmt.Errorf("call %d: %w", i+1, err)
		}
		ds[i] = time.Since(t)
	}
	r := summarize(ds)
	r.URL, r.Addr, r.Warmup, r.KeepAlive = rawURL, addr, o.Warmup, o.KeepAlive
	r.Seconds = round3(time.Since(start).Seconds())
	return r, nil
}

// summarize gives the percentiles (nearest rank), extremes and mean of ds,
// in milliseconds; it sorts ds.
func summarize(ds []time.Duration) latencyResult {
	r := latencyResult{Calls: len(ds)}
	if len(ds) == 0 {
		return r
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	r.P50, r.P90, r.P99 = ms(percentile(ds, 50)), ms(percentile(ds, 90)), ms(percentile(ds, 99))
	r.Min, r.Max = ms(ds[0]), ms(ds[len(ds)-1])
	r.Mean = ms(sum / time.Duration(len(ds)))
	return r
}

// percentile is the nearest-rank p-th percentile of sorted (non-empty): the
// smallest value with at least p % of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// measureTransfer times one GET of rawURL from the request until its last
// byte has been read.
func measureTransfer(ctx context.Context, rawURL string) (transferResult, error) {
	c, addr, err := pinnedClient(ctx, rawURL, false)
	if err != nil {
		return transferResult{}, err
	}
	defer c.CloseIdleConnections()
	start := time.Now()
	n, err := fetch(ctx, c, rawURL)
	secs := time.Since(start).Seconds()
	if err != nil {
		return transferResult{}, err
	}
	r := transferResult{URL: rawURL, Addr: addr, Bytes: n, Seconds: round3(secs)}
	if secs > 0 {
		r.MBps = round3(float64(n) / 1e6 / secs)
	}
	return r, nil
}

// runBench is `testapp bench [-n N] [-warmup W] [-keepalive] URL`.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := latencyOptions{}
	fs.IntVar(&o.Calls, "n", 1000, "timed calls")
	fs.IntVar(&o.Warmup, "warmup", 20, "untimed calls first")
	fs.BoolVar(&o.KeepAlive, "keepalive", false, "reuse one connection (default: a new one per call)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: testapp bench [-n N] [-warmup W] [-keepalive] URL")
		return 2
	}
	r, err := measureLatency(context.Background(), fs.Arg(0), o)
	return printJSON(r, err, stdout, stderr)
}

// runPull is `testapp pull URL`.
func runPull(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: testapp pull URL")
		return 2
	}
	r, err := measureTransfer(context.Background(), args[0])
	return printJSON(r, err, stdout, stderr)
}

func printJSON(v any, err error, stdout, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "testapp: %v\n", err)
		return 1
	}
	b, _ := json.Marshal(v)
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}

// benchEndpoint serves /bench?url=U[&n=N&warmup=W&keepalive=1]: the bench
// subcommand run by the server, its JSON as the answer.
func benchEndpoint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := latencyOptions{Calls: 1000, Warmup: 20, KeepAlive: q.Get("keepalive") == "1"}
	for _, f := range []struct {
		key string
		dst *int
	}{{"n", &o.Calls}, {"warmup", &o.Warmup}} {
		if s := q.Get(f.key); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				http.Error(w, "bad "+f.key, http.StatusBadRequest)
				return
			}
			*f.dst = v
		}
	}
	if q.Get("url") == "" {
		http.Error(w, "missing url", http.StatusBadRequest)
		return
	}
	res, err := measureLatency(r.Context(), q.Get("url"), o)
	writeJSON(w, res, err)
}

// pullEndpoint serves /pull?url=U: the pull subcommand run by the server.
func pullEndpoint(w http.ResponseWriter, r *http.Request) {
	u := r.URL.Query().Get("url")
	if u == "" {
		http.Error(w, "missing url", http.StatusBadRequest)
		return
	}
	res, err := measureTransfer(r.Context(), u)
	writeJSON(w, res, err)
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}
