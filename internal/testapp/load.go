package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// held keeps HOLD_MEM's allocation reachable for the process's life.
var held []byte

// load makes the server use a known amount of resources, for the usage
// history tests: BURN_CPU (CPUs, e.g. "0.5") busy-loops that fraction of
// each 10 ms slice, spread over as many goroutines as it has whole CPUs;
// HOLD_MEM ("64M", "1G", bytes) allocates that much once and touches every
// page, so it is resident.
func load(burn, hold string) error {
	if hold != "" {
		n, err := parseBytes(hold)
		if err != nil {
			return fmt.Errorf("bad HOLD_MEM %q: %v", hold, err)
		}
		held = make([]byte, n)
		for i := 0; i < len(held); i += 4096 {
			held[i] = 1
		}
	}
	if burn != "" {
		cpus, err := strconv.ParseFloat(burn, 64)
		if err != nil || cpus <= 0 {
			return fmt.Errorf("bad BURN_CPU %q", burn)
		}
		for cpus > 0 {
			share := min(cpus, 1)
			cpus -= share
			go spin(share)
		}
	}
	return nil
}

// spin keeps one goroutine busy share of the time (0 < share <= 1).
func spin(share float64) {
	runtime.LockOSThread()
	const slice = 10 * time.Millisecond
	busy := time.Duration(float64(slice) * share)
	for {
		start := time.Now()
		for time.Since(start) < busy {
		}
		if rest := slice - time.Since(start); rest > 0 {
			time.Sleep(rest)
		}
	}
}

// parseBytes reads "64M", "512k", "1G" (powers of 1024) or plain bytes.
func parseBytes(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 64M")
	}
	return n * mult, nil
}
