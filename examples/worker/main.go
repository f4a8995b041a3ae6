// Command worker is the example stack's background job: every interval it
// asks the API to increment the counter and logs the new value.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	api := flag.String("api", "http://api:8080", "base URL of the API (the service name resolves on the project network)")
	every := flag.Duration("every", 2*time.Second, "time between increments")
	flag.Parse()
	log.SetFlags(0)

	// As PID 1 in a container the process must handle the stop signal itself.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second}
	log.Printf("worker: incrementing %s/counter every %s", *api, *every)
	for {
		if n, err := increment(ctx, client, *api+"/counter"); err != nil {
			log.Printf("worker: %v", err)
		} else {
			log.Printf("worker: counter is now %s", n)
		}
		select {
		case <-ctx.Done():
			log.Print("worker: stopped")
			return
		case <-time.After(*every):
		}
	}
}

// increment POSTs to the API's counter and returns the new value.
func increment(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
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
		return "", fmt.Errorf("POST %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}
