// Command hotreload measures devorch's hot reload (`devorch watch`) on this
// machine and checks the figures against their targets. bench/hotreload/run.sh
// builds and runs it; `make bench` calls that after the core table.
//
// Stack (project dvb-hotreload): "sync", devorch-test/busybox running
// `sleep 3600` with init, and a develop.watch sync rule ./src → /src; "app",
// built from a Dockerfile FROM devorch-test/testapp with a healthcheck every
// 1 s, and a rebuild rule on its build context ./app. One `devorch watch`
// process runs for the first three measurements:
//
//  1. latency: 50 edits of src/probe.txt, each with a unique token; the
//     time from the write until a shell loop inside the container, which
//     re-reads /src/probe.txt every 2 ms and prints it when it changed
//     (one exec, its output streamed back), prints the token. The method's
//     delay is that period plus the exec stream's latency (measured with an
//     echo through `cat`, ~0.1 ms). Reported with it: devorch's own figure
//     from its watch line, the floor (what a one-file sync needs through the
//     raw API: list the service's containers, CopyToContainer a one-file
//     tar), and a cross-check with the probe first suggested for this,
//     CopyFromContainer of the file every 5 ms, which reads 2-3x slower:
//     archive calls on one container contend in the daemon, so that probe
//     slows down the copy-in it measures.
//  2. burst: 1,000 new files written into src/burst/ as fast as possible;
//     time until all of them are in the container, and how many watch lines
//     (batches) devorch printed for them.
//  3. rebuild: new content in app/version.txt (which the Dockerfile copies;
//     a bare touch would build the same image and recreate nothing); time
//     until Docker reports the recreated container healthy (events API).
//
// Then a second project (dvb-hotreload-idle) with one sync rule on a tree of
// 500 directories × 100 files: the time `devorch watch --no-up` takes to
// print "Watching N directories", and devorch's CPU time (utime+stime from
// /proc/PID/stat) over 60 s of the tree sitting idle.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/devorch/devorch/internal/labels"
)

const (
	labelProject = labels.Project
	labelService = labels.Service
	labelReplica = labels.Replica
	// clockTicks is USER_HZ, the unit of /proc/PID/stat's utime and stime
	// (100 on every Linux architecture devorch runs on).
	clockTicks = 100
)

type config struct {
	devorch   string
	dir       string
	project   string
	edits     int
	burst     int
	treeDirs  int
	treeFiles int
	idle      time.Duration
	poll      time.Duration
	cross     int
	parts     map[string]bool
}

func main() {
	var c config
	var parts string
	flag.StringVar(&c.devorch, "devorch", "bin/devorch", "devorch binary")
	flag.StringVar(&c.dir, "dir", "", "working directory for the stacks (default: a new temp dir, removed at the end)")
	flag.StringVar(&c.project, "p", "dvb-hotreload", "project name; the idle tree uses NAME-idle")
	flag.IntVar(&c.edits, "edits", 50, "latency: number of single-file edits")
	flag.IntVar(&c.burst, "burst", 1000, "burst: number of files written at once")
	flag.IntVar(&c.treeDirs, "tree-dirs", 500, "idle: directories in the watched tree")
	flag.IntVar(&c.treeFiles, "tree-files", 100, "idle: files per directory")
	flag.DurationVar(&c.idle, "idle", 60*time.Second, "idle: how long to measure devorch's CPU")
	flag.DurationVar(&c.poll, "poll", 2*time.Millisecond, "latency: period of the in-container poll loop")
	flag.IntVar(&c.cross, "cross", 20, "latency: edits probed with CopyFromContainer as a cross-check (0: none)")
	flag.StringVar(&parts, "parts", "latency,burst,rebuild,idle", "measurements to run")
	flag.Parse()
	c.parts = map[string]bool{}
	for _, p := range strings.Split(parts, ",") {
		c.parts[strings.TrimSpace(p)] = true
	}
	if abs, err := filepath.Abs(c.devorch); err == nil {
		c.devorch = abs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hotreload:", err)
		os.Exit(1)
	}
}

// result is one row of the table.
type result struct {
	name, value, target string
	ok                  *bool // nil: no target
}

func pass(b bool) *bool { return &b }

func run(ctx context.Context, c config) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	if c.dir == "" {
		d, err := os.MkdirTemp("", "dvb-hotreload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	b := &bench{c: c, cli: cli}
	defer b.cleanup()
	load, _ := os.ReadFile("/proc/loadavg")
	b.note("load average before: %s", strings.Join(strings.Fields(string(load))[:3], " "))
	if c.parts["latency"] || c.parts["burst"] || c.parts["rebuild"] {
		if err := b.stackParts(ctx); err != nil {
			b.print()
			return err
		}
	}
	if c.parts["idle"] {
		if err := b.idlePart(ctx); err != nil {
			b.print()
			return err
		}
	}
	b.print()
	return nil
}

type bench struct {
	c        config
	cli      *client.Client
	results  []result
	notes    []string
	cleanups []func()
}

func (b *bench) add(r result)                 { b.results = append(b.results, r) }
func (b *bench) note(format string, a ...any) { b.notes = append(b.notes, fmt.Sprintf(format, a...)) }
func (b *bench) onCleanup(f func())           { b.cleanups = append(b.cleanups, f) }

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "hotreload: "+format+"\n", a...)
}

func (b *bench) devorch(args ...string) *exec.Cmd { return exec.Command(b.c.devorch, args...) }

func ms(d time.Duration) string  { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
func ms1(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

func mkdirs(paths ...string) error {
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (b *bench) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func (b *bench) print() {
	fmt.Printf("devorch hot reload bench, %s, %d edits, %d-file burst, idle tree %d×%d files for %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), b.c.edits, b.c.burst, b.c.treeDirs, b.c.treeFiles, b.c.idle)
	fmt.Println()
	fmt.Printf("%-58s %-30s %-16s %s\n", "measure", "value", "target", "result")
	for _, r := range b.results {
		res := ""
		if r.ok != nil {
			res = verdict(*r.ok)
		}
		fmt.Printf("%-58s %-30s %-16s %s\n", r.name, r.value, r.target, res)
	}
	fmt.Println()
	for _, n := range b.notes {
		fmt.Println(n)
	}
}

// ---------------------------------------------------------------- devorch watch

// watchProc is a running `devorch watch` with its output lines.
type watchProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	lines   []line // "[watch] ..." lines from stdout
	errTail []string
	errAll  []line        // every stderr line (progress), with its time
	changed chan struct{} // closed and replaced on every new line
	ready   chan struct{}
	readyAt time.Time
	readyLn string
	done    chan struct{}
	log     *os.File
}

type line struct {
	at   time.Time
	text string
}

func (b *bench) startWatch(ctx context.Context, dir, project string, extra ...string) (*watchProc, error) {
	args := append([]string{"-p", project, "-f", filepath.Join(dir, "compose.yaml"), "--ansi", "never", "--progress", "plain", "watch"}, extra...)
	cmd := b.devorch(args...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(b.c.dir, project+"-watch.log"))
	if err != nil {
		return nil, err
	}
	w := &watchProc{cmd: cmd, changed: make(chan struct{}), ready: make(chan struct{}), done: make(chan struct{}), log: log}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.read(stdout, false) }()
	go func() { defer wg.Done(); w.read(stderr, true) }()
	go func() { wg.Wait(); _ = cmd.Wait(); close(w.done) }()
	b.onCleanup(func() { w.stop() })
	select {
	case <-w.ready:
		return w, nil
	case <-w.done:
		return nil, fmt.Errorf("devorch watch exited before watching:\n%s", w.tail())
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Minute):
		return nil, fmt.Errorf("devorch watch did not start watching within 5 minutes:\n%s", w.tail())
	}
}

func (w *watchProc) read(r io.Reader, isErr bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		now := time.Now()
		text := sc.Text()
		w.mu.Lock()
		fmt.Fprintf(w.log, "%s %s\n", now.Format("15:04:05.000"), text)
		if isErr {
			w.errAll = append(w.errAll, line{at: now, text: text})
			w.errTail = append(w.errTail, text)
			if len(w.errTail) > 40 {
				w.errTail = w.errTail[1:]
			}
			if strings.HasPrefix(text, "Watching ") && w.readyLn == "" {
				w.readyAt, w.readyLn = now, text
				close(w.ready)
			}
		} else if strings.HasPrefix(text, "[watch] ") {
			w.lines = append(w.lines, line{at: now, text: text})
		}
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

func (w *watchProc) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.errTail, "\n")
}

// since returns the watch lines from index i on, and a channel closed on
// the next line.
func (w *watchProc) since(i int) ([]line, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i > len(w.lines) {
		i = len(w.lines)
	}
	return append([]line(nil), w.lines[i:]...), w.changed
}

// progressAt returns the time of the first stderr line after t containing s.
func (w *watchProc) progressAt(t time.Time, s string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.errAll {
		if l.at.After(t) && strings.Contains(l.text, s) {
			return l.at, true
		}
	}
	return time.Time{}, false
}

func (w *watchProc) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// waitLines waits until cond holds for the lines from index i on.
func (w *watchProc) waitLines(ctx context.Context, i int, timeout time.Duration, cond func([]line) bool) ([]line, error) {
	deadline := time.After(timeout)
	for {
		ls, ch := w.since(i)
		if cond(ls) {
			return ls, nil
		}
		select {
		case <-ch:
		case <-w.done:
			ls, _ := w.since(i)
			if cond(ls) {
				return ls, nil
			}
			return ls, fmt.Errorf("devorch watch exited:\n%s", w.tail())
		case <-ctx.Done():
			return ls, ctx.Err()
		case <-deadline:
			return ls, fmt.Errorf("timed out after %s waiting for watch output; lines so far: %v", timeout, texts(ls))
		}
	}
}

func texts(ls []line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.text
	}
	return out
}

// stop ends the watch with SIGINT, as Ctrl-C would, then SIGKILL.
func (w *watchProc) stop() {
	select {
	case <-w.done:
	default:
		_ = w.cmd.Process.Signal(os.Interrupt)
		select {
		case <-w.done:
		case <-time.After(15 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}
	w.log.Close()
}

// watchLine parses "[watch] SERVICE ACTION ok: N files (D deleted) in Xms".
var watchLineRE = regexp.MustCompile(`^\[watch\] (\S+) (.+) (ok|error): (\d+) files \((\d+) deleted\) in (\d+)ms`)

type batchLine struct {
	service, action string
	ok              bool
	files           int
	took            time.Duration
}

func parseLine(s string) (batchLine, bool) {
	m := watchLineRE.FindStringSubmatch(s)
	if m == nil {
		return batchLine{}, false
	}
	files, _ := strconv.Atoi(m[4])
	took, _ := strconv.Atoi(m[6])
	return batchLine{service: m[1], action: m[2], ok: m[3] == "ok", files: files, took: time.Duration(took) * time.Millisecond}, true
}

// ofService keeps the parsed lines of one service (initial sync excluded).
func ofService(ls []line, service string) []batchLine {
	var out []batchLine
	for _, l := range ls {
		if bl, ok := parseLine(l.text); ok && bl.service == service && bl.action != "initial sync" {
			out = append(out, bl)
		}
	}
	return out
}

// ---------------------------------------------------------------- the stack

const stackCompose = `services:
  sync:
    image: devorch-test/busybox:latest
    init: true
    command: ["sleep", "3600"]
    develop:
      watch:
        - path: ./src
          target: /src
          action: sync
  app:
    build: ./app
    environment:
      PORT: "8080"
    healthcheck:
      test: ["CMD", "/testapp", "health"]
      interval: 1s
      timeout: 2s
      retries: 3
    develop:
      watch:
        - path: ./app
          action: rebuild
`

const appDockerfile = `FROM devorch-test/testapp:latest
COPY version.txt /version.txt
`

func (b *bench) down(project string) {
	cmd := b.devorch("-p", project, "--progress", "quiet", "down", "-t", "1", "--rmi", "local")
	cmd.Dir = b.c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.logf("down %s: %v: %s", project, err, strings.TrimSpace(string(out)))
	}
	// Images of earlier builds (dangling after a rebuild) carry the label too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelProject+"="+project))})
	if err == nil {
		for _, im := range imgs {
			_, _ = b.cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	}
}

func (b *bench) containerOf(ctx context.Context, project, service string) (string, error) {
	cs, err := b.cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", labelProject+"="+project), filters.Arg("label", labelService+"="+service))})
	if err != nil {
		return "", err
	}
	if len(cs) != 1 {
		return "", fmt.Errorf("%d running containers for %s/%s, want 1", len(cs), project, service)
	}
	return cs[0].ID, nil
}

func (b *bench) stackParts(ctx context.Context) error {
	dir := filepath.Join(b.c.dir, "stack")
	src, app := filepath.Join(dir, "src"), filepath.Join(dir, "app")
	if err := mkdirs(src, app); err != nil {
		return err
	}
	for p, content := range map[string]string{
		filepath.Join(dir, "compose.yaml"):   stackCompose,
		filepath.Join(app, "Dockerfile"):     appDockerfile,
		filepath.Join(app, "version.txt"):    "1\n",
		filepath.Join(src, "probe.txt"):      "start\n",
		filepath.Join(src, "placeholder.md"): "kept\n",
	} {
		if err := writeFile(p, content); err != nil {
			return err
		}
	}
	b.onCleanup(func() { b.down(b.c.project) })
	b.logf("starting devorch watch on %s (up, build, then watch)", b.c.project)
	w, err := b.startWatch(ctx, dir, b.c.project)
	if err != nil {
		return err
	}
	syncID, err := b.containerOf(ctx, b.c.project, "sync")
	if err != nil {
		return err
	}
	if b.c.parts["latency"] {
		if err := b.latency(ctx, w, syncID, src); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	if b.c.parts["burst"] {
		if err := b.burst(ctx, w, syncID, src); err != nil {
			return fmt.Errorf("burst: %w", err)
		}
	}
	if b.c.parts["rebuild"] {
		if err := b.rebuild(ctx, w, app); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	w.stop()
	b.down(b.c.project)
	return nil
}

// readFile reads one regular file from the container through the archive
// endpoint; a missing file reads as "".
func (b *bench) readFile(ctx context.Context, id, path string) (string, error) {
	rc, _, err := b.cli.CopyFromContainer(ctx, id, path)
	if err != nil {
		if strings.Contains(err.Error(), "No such container:path") || strings.Contains(err.Error(), "Could not find the file") {
			return "", nil
		}
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return "", err
	}
	data, err := io.ReadAll(tr)
	return string(data), err
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// Nearest rank.
	k := int(p*float64(len(s))+0.999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(s) {
		k = len(s) - 1
	}
	return s[k]
}

// poller is a shell loop inside the container that reads a file every
// period and prints it whenever it changed, streamed back over one exec.
type poller struct {
	conn  io.Closer
	lines chan line
	pid   string
	send  func(string) error
}

// pollScript re-reads the file every period (read is a shell builtin: no
// fork per iteration) and prints it when it changed.
const pollScript = `echo "pid $$"; p=; while :; do read -r l < /src/probe.txt 2>/dev/null || l=; ` +
	`if [ "$l" != "$p" ]; then echo "$l"; p=$l; fi; usleep %d; done`

func (b *bench) startPoller(ctx context.Context, id string, period time.Duration) (*poller, error) {
	return b.execLines(ctx, id, []string{"sh", "-c", fmt.Sprintf(pollScript, period.Microseconds())})
}

// execLines runs cmd in the container and delivers its stdout lines with
// their arrival time.
func (b *bench) execLines(ctx context.Context, id string, cmd []string) (*poller, error) {
	ex, err := b.cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: true})
	if err != nil {
		return nil, err
	}
	resp, err := b.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, err
	}
	p := &poller{conn: resp.Conn, lines: make(chan line, 1024)}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, io.Discard, resp.Reader)
		pw.CloseWithError(err)
	}()
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.lines <- line{at: time.Now(), text: sc.Text()}
		}
	}()
	p.send = func(s string) error { _, err := resp.Conn.Write([]byte(s)); return err }
	return p, nil
}

// next waits for a line equal to want (earlier lines are skipped).
func (p *poller) next(ctx context.Context, want string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return time.Time{}, errors.New("the in-container poller ended")
			}
			if l.text == want {
				return l.at, nil
			}
		case <-deadline:
			return time.Time{}, fmt.Errorf("%q not seen within %s", want, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (b *bench) latency(ctx context.Context, w *watchProc, id, src string) error {
	probe := filepath.Join(src, "probe.txt")
	// The method's own delay: a line through an exec stream and back (cat).
	echo, err := b.execLines(ctx, id, []string{"cat"})
	if err != nil {
		return err
	}
	var echoRTT []time.Duration
	for i := range 30 {
		s := time.Now()
		want := fmt.Sprintf("echo %d", i)
		if err := echo.send(want + "\n"); err != nil {
			return err
		}
		at, err := echo.next(ctx, want, 5*time.Second)
		if err != nil {
			return fmt.Errorf("echo calibration: %w", err)
		}
		echoRTT = append(echoRTT, at.Sub(s))
	}
	echo.conn.Close()
	floor, err := b.syncFloor(ctx, id)
	if err != nil {
		return err
	}
	pl, err := b.startPoller(ctx, id, b.c.poll)
	if err != nil {
		return err
	}
	defer pl.conn.Close()
	select {
	case l := <-pl.lines:
		pl.pid = strings.TrimPrefix(l.text, "pid ")
	case <-time.After(10 * time.Second):
		return errors.New("the in-container poller did not start")
	}
	b.logf("latency: %d edits of src/probe.txt", b.c.edits)
	var figs, selfs []time.Duration
	for i := range b.c.edits {
		token := fmt.Sprintf("token %d %d", i, time.Now().UnixNano())
		n := w.count()
		t0 := time.Now()
		if err := writeFile(probe, token+"\n"); err != nil {
			return err
		}
		at, err := pl.next(ctx, token, 10*time.Second)
		if err != nil {
			return fmt.Errorf("edit %d: %w", i, err)
		}
		figs = append(figs, at.Sub(t0))
		bl, err := b.nextSync(ctx, w, n, 1)
		if err != nil {
			return fmt.Errorf("edit %d: %w", i, err)
		}
		selfs = append(selfs, bl.took)
		time.Sleep(50 * time.Millisecond)
	}
	// Stop the loop (its CPU would distort what follows).
	if pl.pid != "" {
		kill, err := b.execLines(ctx, id, []string{"kill", pl.pid})
		if err == nil {
			for range kill.lines {
			}
		}
	}
	cross, crossSelfs, err := b.crossCheck(ctx, w, id, probe)
	if err != nil {
		return err
	}
	p50, p95 := percentile(figs, 0.5), percentile(figs, 0.95)
	b.add(result{"1 edit → visible in container, p50", ms(p50), "< 100 ms", pass(p50 < 100*time.Millisecond)})
	b.add(result{"1 edit → visible in container, p95", ms(p95), "< 250 ms", pass(p95 < 250*time.Millisecond)})
	b.add(result{"  method: poll period / exec echo round trip p50", ms1(b.c.poll) + " / " + ms1(percentile(echoRTT, 0.5)), "", nil})
	b.add(result{"  devorch's own figure (event → synced) p50/p95", ms(percentile(selfs, 0.5)) + " / " + ms(percentile(selfs, 0.95)), "", nil})
	b.add(result{"  floor: raw API list + CopyToContainer p50/p95", ms(percentile(floor, 0.5)) + " / " + ms(percentile(floor, 0.95)), "", nil})
	if len(cross) > 0 {
		b.add(result{fmt.Sprintf("  cross-check, CopyFromContainer probe (%d) p50/p95", len(cross)), ms(percentile(cross, 0.5)) + " / " + ms(percentile(cross, 0.95)), "", nil})
		b.add(result{"    devorch's own figure meanwhile p50/p95", ms(percentile(crossSelfs, 0.5)) + " / " + ms(percentile(crossSelfs, 0.95)), "", nil})
	}
	b.note("latency: %d edits; figure = write → the token's line from a shell loop in the container that re-reads the file every %s (one exec stream, no API call per poll).", b.c.edits, b.c.poll)
	b.note("latency cross-check: edits probed with GET /containers/ID/archive every 5 ms instead; archive calls on one container contend in the daemon, so the probe slows the copy-in it measures (devorch's own figure rises with it).")
	return nil
}

// nextSync waits for the sync service's next batch line and checks it.
func (b *bench) nextSync(ctx context.Context, w *watchProc, n, files int) (batchLine, error) {
	ls, err := w.waitLines(ctx, n, 10*time.Second, func(ls []line) bool { return len(ofService(ls, "sync")) > 0 })
	if err != nil {
		return batchLine{}, err
	}
	bl := ofService(ls, "sync")[0]
	if !bl.ok || bl.files != files {
		return bl, fmt.Errorf("unexpected watch line %q", ls[0].text)
	}
	return bl, nil
}

// crossCheck measures the same edit latency with the probe the brief
// suggested: CopyFromContainer of the file every 5 ms until it matches.
func (b *bench) crossCheck(ctx context.Context, w *watchProc, id, probe string) (out, selfs []time.Duration, err error) {
	for i := range b.c.cross {
		token := fmt.Sprintf("cross %d %d\n", i, time.Now().UnixNano())
		n := w.count()
		t0 := time.Now()
		if err := writeFile(probe, token); err != nil {
			return nil, nil, err
		}
		for {
			got, err := b.readFile(ctx, id, "/src/probe.txt")
			if err != nil {
				return nil, nil, err
			}
			if got == token {
				out = append(out, time.Since(t0))
				break
			}
			if time.Since(t0) > 10*time.Second {
				return nil, nil, fmt.Errorf("cross-check edit %d not visible after 10 s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		bl, err := b.nextSync(ctx, w, n, 1)
		if err != nil {
			return nil, nil, err
		}
		selfs = append(selfs, bl.took)
		time.Sleep(50 * time.Millisecond)
	}
	return out, selfs, nil
}

// syncFloor times what a one-file sync needs at least through the raw API:
// list the service's running containers, copy a one-file tar in.
func (b *bench) syncFloor(ctx context.Context, id string) ([]time.Duration, error) {
	var out []time.Duration
	for i := range 20 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		body := fmt.Sprintf("floor %d\n", i)
		_ = tw.WriteHeader(&tar.Header{Name: "floor/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Now()})
		_ = tw.WriteHeader(&tar.Header{Name: "floor/probe.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()})
		_, _ = tw.Write([]byte(body))
		if err := tw.Close(); err != nil {
			return nil, err
		}
		s := time.Now()
		if _, err := b.containerOf(ctx, b.c.project, "sync"); err != nil {
			return nil, err
		}
		if err := b.cli.CopyToContainer(ctx, id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
			return nil, fmt.Errorf("floor copy: %w", err)
		}
		out = append(out, time.Since(s))
		time.Sleep(20 * time.Millisecond)
	}
	return out, nil
}

func (b *bench) burst(ctx context.Context, w *watchProc, id, src string) error {
	dir := filepath.Join(src, "burst")
	n0 := w.count()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	// The new directory is its own batch; wait for it.
	if _, err := w.waitLines(ctx, n0, 10*time.Second, func(ls []line) bool { return len(ofService(ls, "sync")) > 0 }); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	b.logf("burst: %d files", b.c.burst)
	n := w.count()
	last := fmt.Sprintf("f%05d.txt", b.c.burst-1)
	t0 := time.Now()
	for i := range b.c.burst {
		if err := writeFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), fmt.Sprintf("burst file %d\n", i)); err != nil {
			return err
		}
	}
	written := time.Since(t0)
	// The watcher syncs a batch in path order in one tar stream: wait for
	// the last file, then check that every file is there.
	deadline := t0.Add(60 * time.Second)
	for {
		if _, err := b.cli.ContainerStatPath(ctx, id, "/src/burst/"+last); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not in the container after 60 s", last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var took time.Duration
	var have int
	for {
		var err error
		have, err = b.countFiles(ctx, id, "/src/burst")
		if err != nil {
			return err
		}
		if have >= b.c.burst {
			took = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d files in the container after 60 s", have, b.c.burst)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every line devorch printed for the burst (files counted up to the total).
	ls, err := w.waitLines(ctx, n, 30*time.Second, func(ls []line) bool {
		total := 0
		for _, bl := range ofService(ls, "sync") {
			total += bl.files
		}
		return total >= b.c.burst
	})
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // any straggler batch
	ls, _ = w.since(n)
	bls := ofService(ls, "sync")
	var parts []string
	for _, bl := range bls {
		parts = append(parts, strconv.Itoa(bl.files))
	}
	floor, err := b.burstFloor(ctx, id)
	if err != nil {
		return err
	}
	b.add(result{fmt.Sprintf("%d-file burst → all in container", b.c.burst), ms(took), "< 2 s", pass(took < 2*time.Second)})
	b.add(result{fmt.Sprintf("%d-file burst: watch lines (batches)", b.c.burst), fmt.Sprintf("%d (%s files)", len(bls), strings.Join(parts, "+")), "1", pass(len(bls) == 1)})
	if len(bls) > 0 {
		b.add(result{"  devorch's own figure (first event → synced)", ms(bls[len(bls)-1].took), "", nil})
	}
	b.add(result{fmt.Sprintf("  floor: raw CopyToContainer of the %d files", b.c.burst), ms(floor), "", nil})
	b.note("burst: writing the %d files took %s; all %d verified in the container (archive listing of /src/burst).", b.c.burst, ms(written), have)
	for _, l := range ls {
		b.note("burst: %s", l.text)
	}
	return nil
}

// burstFloor times one CopyToContainer of a tar with as many files as the
// burst, as devorch builds it (one stream), into another directory.
func (b *bench) burstFloor(ctx context.Context, id string) (time.Duration, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	_ = tw.WriteHeader(&tar.Header{Name: "floor-burst/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now})
	for i := range b.c.burst {
		body := fmt.Sprintf("burst file %d\n", i)
		_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("floor-burst/f%05d.txt", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: now})
		_, _ = tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	s := time.Now()
	if err := b.cli.CopyToContainer(ctx, id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return 0, fmt.Errorf("floor copy: %w", err)
	}
	return time.Since(s), nil
}

// countFiles counts the regular files below path in the container.
func (b *bench) countFiles(ctx context.Context, id, path string) (int, error) {
	rc, _, err := b.cli.CopyFromContainer(ctx, id, path)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if h.Typeflag == tar.TypeReg {
			n++
		}
	}
}

func (b *bench) rebuild(ctx context.Context, w *watchProc, app string) error {
	oldID, err := b.containerOf(ctx, b.c.project, "app")
	if err != nil {
		return err
	}
	// The old container must be healthy first, or we would time its first
	// health check.
	for i := 0; ; i++ {
		insp, err := b.cli.ContainerInspect(ctx, oldID)
		if err != nil {
			return err
		}
		if insp.State != nil && insp.State.Health != nil && insp.State.Health.Status == "healthy" {
			break
		}
		if i > 600 {
			return errors.New("app never became healthy before the rebuild")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, errs := b.cli.Events(ectx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", labelProject+"="+b.c.project),
		filters.Arg("label", labelService+"=app"),
		// Only devorch's containers: the classic builder's intermediate
		// containers inherit the image's project and service labels.
		filters.Arg("label", labelReplica))})
	time.Sleep(200 * time.Millisecond) // the subscription is in place
	b.logf("rebuild: new app/version.txt")
	n := w.count()
	t0 := time.Now()
	if err := writeFile(filepath.Join(app, "version.txt"), fmt.Sprintf("%d\n", t0.UnixNano())); err != nil {
		return err
	}
	var created, started, healthy, oldDied time.Duration
	timeout := time.After(3 * time.Minute)
loop:
	for {
		select {
		case m := <-msgs:
			if m.Actor.ID == oldID {
				if m.Action == events.ActionDie && oldDied == 0 {
					oldDied = time.Since(t0)
				}
				continue
			}
			switch {
			case m.Action == events.ActionCreate && created == 0:
				created = time.Since(t0)
			case m.Action == events.ActionStart && started == 0:
				started = time.Since(t0)
			case m.Action == events.ActionHealthStatusHealthy:
				healthy = time.Since(t0)
				break loop
			case m.Action == events.ActionHealthStatusUnhealthy:
				return errors.New("the rebuilt container became unhealthy")
			}
		case err := <-errs:
			return fmt.Errorf("events: %w", err)
		case <-timeout:
			return fmt.Errorf("no healthy recreated container 3 min after the change:\n%s", w.tail())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ls, err := w.waitLines(ctx, n, 30*time.Second, func(ls []line) bool { return len(ofService(ls, "app")) > 0 })
	if err != nil {
		return err
	}
	bl := ofService(ls, "app")[0]
	b.add(result{"rebuild → recreated container healthy", ms(healthy), "(none)", nil})
	built := "?"
	if at, ok := w.progressAt(t0, "Built"); ok {
		built = ms(at.Sub(t0))
	}
	b.add(result{"  change → image built / new created", built + " / " + ms(created), "", nil})
	b.add(result{"  change → old stopped / new started", ms(oldDied) + " / " + ms(started), "", nil})
	b.add(result{"  devorch's own figure (event → recreated)", ms(bl.took), "", nil})
	b.note("rebuild: started → healthy %s: Docker 20.10 runs the first health probe one interval (1 s) after start.", ms(healthy-started))
	return nil
}

// ---------------------------------------------------------------- idle tree

const idleCompose = `services:
  idle:
    image: devorch-test/busybox:latest
    init: true
    command: ["sleep", "3600"]
    develop:
      watch:
        - path: ./tree
          target: /tree
          action: sync
`

// procCPU returns utime+stime of pid, in clock ticks.
func procCPU(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may contain spaces) start after ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return ut + st, errors.Join(err1, err2)
}

func procRSS(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return fmt.Sprintf("%.0f MB", float64(kb)/1024)
		}
	}
	return "?"
}

func (b *bench) idlePart(ctx context.Context) error {
	project := b.c.project + "-idle"
	dir := filepath.Join(b.c.dir, "idle")
	tree := filepath.Join(dir, "tree")
	b.logf("idle: creating %d×%d files", b.c.treeDirs, b.c.treeFiles)
	for d := range b.c.treeDirs {
		sub := filepath.Join(tree, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for f := range b.c.treeFiles {
			if err := writeFile(filepath.Join(sub, fmt.Sprintf("f%03d.go", f)), "package p\n"); err != nil {
				return err
			}
		}
	}
	if err := writeFile(filepath.Join(dir, "compose.yaml"), idleCompose); err != nil {
		return err
	}
	b.onCleanup(func() { b.down(project) })
	up := b.devorch("-p", project, "-f", filepath.Join(dir, "compose.yaml"), "--progress", "quiet", "up", "-d")
	if out, err := up.CombinedOutput(); err != nil {
		return fmt.Errorf("up %s: %v: %s", project, err, out)
	}
	// Let the page cache and the daemon settle after creating the tree.
	time.Sleep(2 * time.Second)
	b.logf("idle: devorch watch --no-up, then %s idle", b.c.idle)
	t0 := time.Now()
	w, err := b.startWatch(ctx, dir, project, "--no-up")
	if err != nil {
		return err
	}
	startup := w.readyAt.Sub(t0)
	pid := w.cmd.Process.Pid
	startCPU, err := procCPU(pid)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	c0, err := procCPU(pid)
	if err != nil {
		return err
	}
	s := time.Now()
	select {
	case <-time.After(b.c.idle):
	case <-w.done:
		return fmt.Errorf("devorch watch exited while idle:\n%s", w.tail())
	case <-ctx.Done():
		return ctx.Err()
	}
	c1, err := procCPU(pid)
	if err != nil {
		return err
	}
	el := time.Since(s)
	rss := procRSS(pid)
	cpu := float64(c1-c0) / clockTicks / el.Seconds() * 100
	n := w.count()
	w.stop()
	b.add(result{fmt.Sprintf("idle %d-file tree: devorch CPU over %s", b.c.treeDirs*b.c.treeFiles, b.c.idle.Round(time.Second)),
		fmt.Sprintf("%.2f%% of a core (%d ticks)", cpu, c1-c0), "< 1% of a core", pass(cpu < 1)})
	b.add(result{"idle tree: watch start → \"Watching N directories\"", ms(startup), "(none)", nil})
	b.note("idle: %q after %s (CPU %.2f s to get there); RSS while idle %s; %d watch lines while idle.",
		strings.TrimSpace(w.readyLn), ms(startup), float64(startCPU)/clockTicks, rss, n)
	return nil
}
