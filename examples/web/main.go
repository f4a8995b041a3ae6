// Command web is the example stack's front end: an HTML page that shows the
// counter and whether the API answers, fetched from the API by its service
// name on every request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>devorch example</title>
<style>body{font-family:sans-serif;margin:3em} .ok{color:green} .down{color:#b00}</style>
</head><body>
<h1>devorch example stack</h1>
<p>Counter: <strong id="counter">{{.Counter}}</strong></p>
<p>API status: <span id="status" class="{{if .Err}}down{{else}}ok{{end}}">{{if .Err}}unreachable: {{.Err}}{{else}}ok{{end}}</span></p>
<p><small>API {{.API}}, fetched at {{.At}}. The worker increments the counter every few seconds; this page reloads every 2 s. <a href="/static/hello.txt">A synced file</a>.</small></p>
</body></html>
`))

func main() {
	health := flag.Bool("health", false, "probe this server's /health and exit 0 when it answers 200")
	addr := flag.String("addr", ":8080", "listen address")
	api := flag.String("api", "http://api:8080", "base URL of the API (the service name resolves on the project network)")
	flag.Parse()
	log.SetFlags(0)
	if *health {
		// The healthcheck: the image has no shell or curl, so the binary probes itself.
		if _, err := get(context.Background(), &http.Client{Timeout: 2 * time.Second}, "http://127.0.0.1"+*addr+"/health"); err != nil {
			log.Fatalf("unhealthy: %v", err)
		}
		return
	}

	client := &http.Client{Timeout: 2 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Static files: devorch watch syncs examples/web/static into /static.
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.Dir("/static"))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		data := struct{ Counter, Err, API, At string }{Counter: "?", API: *api, At: time.Now().Format(time.TimeOnly)}
		if n, err := get(r.Context(), client, *api+"/counter"); err != nil {
			data.Err = err.Error()
		} else {
			data.Counter = n
		}
		if err := page.Execute(w, data); err != nil {
			log.Printf("web: render: %v", err)
		}
	})
	log.Printf("web: listening on %s, API at %s", *addr, *api)
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
	log.Print("web: stopped")
}

// get fetches url and returns its trimmed body; a non-200 answer is an error.
func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	body := strings.TrimSpace(string(b))
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}
