// Command api is the example stack's API: it keeps a counter in a file on a
// named volume and serves it over HTTP. Run with -health it is its own
// healthcheck probe, because its FROM scratch image has no shell or curl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	health := flag.Bool("health", false, "probe this API's /health and exit 0 when it answers 200")
	addr := flag.String("addr", ":8080", "listen address")
	file := flag.String("file", "/data/counter", "file that keeps the counter")
	flag.Parse()
	if *health {
		os.Exit(probe("http://127.0.0.1" + *addr + "/health"))
	}

	c := &counter{path: *file}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /counter", func(w http.ResponseWriter, r *http.Request) {
		c.respond(w, c.get)
	})
	mux.HandleFunc("POST /counter", func(w http.ResponseWriter, r *http.Request) {
		c.respond(w, c.increment)
	})
	log.SetFlags(0)
	log.Printf("api: listening on %s, counter in %s", *addr, *file)
	serve(&http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second})
}

// serve runs srv until SIGTERM or SIGINT, then shuts it down cleanly: as
// PID 1 in a container, the process must handle the stop signal itself.
func serve(srv *http.Server) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Print("api: stopped")
}

// probe is the healthcheck: exit code 0 when url answers 200.
func probe(url string) int {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy:", resp.Status)
		return 1
	}
	return 0
}

// counter is an integer kept in a file, so it survives container restarts
// and recreations as long as the volume lives.
type counter struct {
	mu   sync.Mutex
	path string
}

func (c *counter) respond(w http.ResponseWriter, op func() (int, error)) {
	n, err := op()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, n)
}

func (c *counter) get() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read()
}

func (c *counter) increment() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.read()
	if err != nil {
		return 0, err
	}
	n++
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return 0, err
	}
	// Write then rename, so a crash never leaves a half-written counter.
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp, c.path)
}

func (c *counter) read() (int, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("counter file %s: %w", c.path, err)
	}
	return n, nil
}
