// Command testapp is the single static test workload baked into the
// devorch-test/testapp image (FROM scratch, so it also stands in for curl,
// cat, sleep and friends). It must stay stdlib-only and build with
// CGO_ENABLED=0.
//
// Without arguments (or with "serve") it runs an HTTP server; the other
// subcommands are small utilities. The usage constant documents both.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const usage = `usage: testapp [command] [args]
  serve                 HTTP server (default), configured by env:
      PORT (8080), EXTRA_PORTS (comma list), NAME (default hostname),
      HEALTHY_AFTER (duration), UNHEALTHY_FILE (path), LOG_RATE (lines/s of
      "[$LOG_LINE ]tick N"), EXIT_AFTER + EXIT_CODE, ONESHOT=1 + EXIT_CODE,
      IGNORE_SIGTERM=1, BURN_CPU (CPUs kept busy, e.g. 0.5), HOLD_MEM (resident
      bytes held, e.g. 64M)
    endpoints: / /health /env /call?url=U /file?path=P (GET, POST)
      /burn?cpu=SECS  /burn?mem=MB&secs=S (bg=1: return at once)
      /exit?code=N  /counter?path=P  /bytes?n=N (N bytes)
      /bench?url=U[&n=N&warmup=W&keepalive=1]  /pull?url=U (as below, JSON)
  health [URL]          GET URL (default http://127.0.0.1:$PORT/health), exit 0 on 2xx
  get URL               GET URL, print body, exit 0 on 2xx
  exit N                print "exit N" and exit with code N
  sleep DURATION        sleep (Go duration or seconds)
  echo ARGS...          print args joined by spaces
  cat FILE | write FILE CONTENT | ls DIR
  env                   print the environment, sorted
  log N                 print N lines "line i"
  bench [-n 1000] [-warmup 20] [-keepalive] URL
                        time N sequential GETs of URL (its name resolved once;
                        a new connection per call unless -keepalive), print
                        p50/p90/p99/min/max/mean in ms as JSON
  pull URL              GET URL, read it all, print bytes, seconds and MB/s
                        (10^6 bytes) as JSON
`

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		os.Exit(serve())
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// run executes a non-serve subcommand and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "testapp %s: %s\n", args[0], fmt.Sprintf(format, a...))
		return 1
	}
	need := func(n int) bool { return len(args) >= n+1 }
	switch args[0] {
	case "serve":
		return serve()
	case "health":
		url := "http://127.0.0.1:" + envOr("PORT", "8080") + "/health"
		if need(1) {
			url = args[1]
		}
		if _, err := httpGet(url, 2*time.Second); err != nil {
			return fail("%v", err)
		}
		return 0
	case "get":
		if !need(1) {
			return fail("missing URL")
		}
		body, err := httpGet(args[1], 30*time.Second)
		stdout.Write(body)
		if err != nil {
			return fail("%v", err)
		}
		return 0
	case "exit":
		code := 0
		if need(1) {
			c, err := strconv.Atoi(args[1])
			if err != nil {
				return fail("bad code %q", args[1])
			}
			code = c
		}
		fmt.Fprintf(stdout, "exit %d\n", code)
		return code
	case "sleep":
		if !need(1) {
			return fail("missing duration")
		}
		d, err := parseDuration(args[1])
		if err != nil {
			return fail("%v", err)
		}
		time.Sleep(d)
		return 0
	case "echo":
		fmt.Fprintln(stdout, strings.Join(args[1:], " "))
		return 0
	case "cat":
		if !need(1) {
			return fail("missing FILE")
		}
		b, err := os.ReadFile(args[1])
		if err != nil {
			return fail("%v", err)
		}
		stdout.Write(b)
		return 0
	case "write":
		if !need(2) {
			return fail("usage: write FILE CONTENT")
		}
		if err := writeFile(args[1], []byte(args[2])); err != nil {
			return fail("%v", err)
		}
		return 0
	case "ls":
		dir := "."
		if need(1) {
			dir = args[1]
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fail("%v", err)
		}
		for _, e := range entries {
			fmt.Fprintln(stdout, e.Name())
		}
		return 0
	case "env":
		for _, kv := range sortedEnv() {
			fmt.Fprintln(stdout, kv)
		}
		return 0
	case "log":
		n := 10
		if need(1) {
			v, err := strconv.Atoi(args[1])
			if err != nil {
				return fail("bad count %q", args[1])
			}
			n = v
		}
		for i := 1; i <= n; i++ {
			fmt.Fprintf(stdout, "line %d\n", i)
		}
		return 0
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "pull":
		return runPull(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "testapp: unknown command %q\n%s", args[0], usage)
	return 2
}

// serve runs the HTTP server until a signal or an exit condition.
func serve() int {
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stdout, format+"\n", a...) }
	code, err := strconv.Atoi(envOr("EXIT_CODE", "0"))
	if err != nil {
		logf("bad EXIT_CODE: %v", err)
		return 2
	}
	if os.Getenv("EXIT_AFTER") == "" && os.Getenv("EXIT_CODE") != "" && os.Getenv("ONESHOT") == "1" {
		logf("done")
		return code
	}

	a := newApp()
	if d := os.Getenv("HEALTHY_AFTER"); d != "" {
		v, err := parseDuration(d)
		if err != nil {
			logf("bad HEALTHY_AFTER: %v", err)
			return 2
		}
		a.healthyAfter = v
	}
	handler := a.handler()
	// Handle signals before announcing anything: as PID 1 in a container,
	// a SIGTERM that arrives before the handler exists is ignored.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	ports := []string{envOr("PORT", "8080")}
	for _, p := range strings.Split(os.Getenv("EXTRA_PORTS"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			ports = append(ports, p)
		}
	}
	errc := make(chan error, len(ports))
	for _, p := range ports {
		srv := &http.Server{Addr: ":" + p, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		logf("listening on :%s", p)
		go func() { errc <- srv.ListenAndServe() }()
	}

	if r := os.Getenv("LOG_RATE"); r != "" {
		rate, err := strconv.ParseFloat(r, 64)
		if err != nil || rate <= 0 {
			logf("bad LOG_RATE %q", r)
			return 2
		}
		prefix := ""
		if l := os.Getenv("LOG_LINE"); l != "" {
			prefix = l + " "
		}
		go func() {
			t := time.NewTicker(time.Duration(float64(time.Second) / rate))
			for n := 1; ; n++ {
				<-t.C
				logf("%stick %d", prefix, n)
			}
		}()
	}

	if err := load(os.Getenv("BURN_CPU"), os.Getenv("HOLD_MEM")); err != nil {
		logf("%v", err)
		return 2
	}

	var exitTimer <-chan time.Time
	if d := os.Getenv("EXIT_AFTER"); d != "" {
		v, err := parseDuration(d)
		if err != nil {
			logf("bad EXIT_AFTER: %v", err)
			return 2
		}
		exitTimer = time.After(v)
	}

	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM && os.Getenv("IGNORE_SIGTERM") == "1" {
				logf("ignoring SIGTERM")
				continue
			}
			logf("shutting down")
			return 0
		case <-exitTimer:
			logf("exiting with code %d", code)
			return code
		case err := <-errc:
			logf("server error: %v", err)
			return 1
		}
	}
}

type app struct {
	start         time.Time
	name          string
	healthyAfter  time.Duration
	unhealthyFile string
	exit          func(code int) // os.Exit, replaced in tests
	mu            sync.Mutex     // serialises /counter within the process
}

func newApp() *app {
	name := os.Getenv("NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	return &app{start: time.Now(), name: name, unhealthyFile: os.Getenv("UNHEALTHY_FILE"), exit: os.Exit}
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, a.name)
	})
	mux.HandleFunc("/health", a.health)
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strings.Join(sortedEnv(), "\n"))
	})
	mux.HandleFunc("/call", a.call)
	mux.HandleFunc("/file", a.file)
	mux.HandleFunc("/burn", a.burn)
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			http.Error(w, "bad code", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "exit %d\n", code)
		fmt.Fprintf(os.Stdout, "exit %d requested\n", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go func() { time.Sleep(100 * time.Millisecond); a.exit(code) }()
	})
	mux.HandleFunc("/counter", a.counter)
	mux.HandleFunc("/bytes", serveBytes)
	mux.HandleFunc("/bench", benchEndpoint)
	mux.HandleFunc("/pull", pullEndpoint)
	return mux
}

func (a *app) health(w http.ResponseWriter, r *http.Request) {
	if a.unhealthyFile != "" {
		if _, err := os.Stat(a.unhealthyFile); err == nil {
			http.Error(w, "unhealthy: "+a.unhealthyFile+" exists", http.StatusServiceUnavailable)
			return
		}
	}
	if left := a.healthyAfter - time.Since(a.start); left > 0 {
		http.Error(w, "starting: healthy in "+left.Round(time.Millisecond).String(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprint(w, "ok")
}

func (a *app) call(w http.ResponseWriter, r *http.Request) {
	url := r.URL.Query().Get("url")
	if url == "" {
		http.Error(w, "missing url", http.StatusBadRequest)
		return
	}
	body, err := httpGet(url, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Write(body)
}

func (a *app) file(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "missing path", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet:
		b, err := os.ReadFile(path)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, os.ErrNotExist) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.Write(b)
	case http.MethodPost, http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = writeFile(path, b)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "wrote %d bytes\n", len(b))
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (a *app) burn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var work func()
	switch {
	case q.Get("cpu") != "":
		d, err := parseDuration(q.Get("cpu"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		work = func() {
			for end, x := time.Now().Add(d), uint64(1); time.Now().Before(end); {
				for i := 0; i < 100000; i++ {
					x = x*6364136223846793005 + 1
				}
				runtime.KeepAlive(x)
			}
		}
	case q.Get("mem") != "":
		mb, err := strconv.Atoi(q.Get("mem"))
		if err != nil || mb < 0 {
			http.Error(w, "bad mem", http.StatusBadRequest)
			return
		}
		d, err := parseDuration(envOrValue(q.Get("secs"), "10"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		work = func() {
			buf := make([]byte, mb<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = 1 // touch every page so it is really resident
			}
			time.Sleep(d)
			runtime.KeepAlive(buf)
		}
	default:
		http.Error(w, "need cpu=SECONDS or mem=MB&secs=S", http.StatusBadRequest)
		return
	}
	if q.Get("bg") == "1" {
		go work()
		fmt.Fprintln(w, "started")
		return
	}
	work()
	fmt.Fprintln(w, "done")
}

func (a *app) counter(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "missing path", http.StatusBadRequest)
		return
	}
	n, err := a.increment(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, n)
}

// increment adds one to the integer stored in path, under a mutex and an
// flock so replicas sharing a volume count correctly.
func (a *app) increment(path string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return 0, err
	}
	n := 0
	if s := strings.TrimSpace(string(b)); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			return 0, fmt.Errorf("counter file %s: %v", path, err)
		}
	}
	n++
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(n)+"\n"), 0); err != nil {
		return 0, err
	}
	return n, nil
}

// httpGet fetches url and returns the body; non-2xx is an error (the body is
// still returned).
func httpGet(url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return body, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// parseDuration accepts Go durations ("1m30s") and plain seconds ("5", "0.5").
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func sortedEnv() []string {
	env := os.Environ()
	sort.Strings(env)
	return env
}

func envOr(key, def string) string { return envOrValue(os.Getenv(key), def) }

func envOrValue(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
