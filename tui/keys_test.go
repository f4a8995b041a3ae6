package tui

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

func rowKeys(m *Model) []string {
	m.table.ensure(m)
	var out []string
	for _, r := range m.table.rows {
		out = append(out, replicaName(r.service, r.replica))
	}
	return out
}

func selectRow(t *testing.T, m *Model, name string) {
	t.Helper()
	press(t, m, "g")
	for i := 0; i < 20; i++ {
		if r := m.table.selected(); r != nil && replicaName(r.service, r.replica) == name {
			return
		}
		press(t, m, "down")
	}
	t.Fatalf("no row %s in %v", name, rowKeys(m))
}

func TestFilter(t *testing.T) {
	m := newTestModel(t, newFake(), 80, 24)
	press(t, m, "/", "web")
	if !m.table.filtering {
		t.Fatal("/ does not open the filter")
	}
	if got, want := rowKeys(m), []string{"web-1", "web-2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("filter web: rows %v, want %v", got, want)
	}
	press(t, m, "enter")
	if m.table.filtering || m.table.filter.Value() != "web" {
		t.Fatalf("enter should keep the filter and stop editing (filtering=%v value=%q)", m.table.filtering, m.table.filter.Value())
	}
	// Keys act on the table again, within the filtered rows.
	press(t, m, "down")
	if r := m.table.selected(); r == nil || r.replica != 2 {
		t.Fatalf("selected %+v, want web-2", r)
	}
	press(t, m, "esc", "/", "unhealthy", "enter")
	if got := rowKeys(m); !reflect.DeepEqual(got, []string{"cache-1"}) {
		t.Fatalf("filter by state: %v", got)
	}
	press(t, m, "esc")
	if len(rowKeys(m)) != 7 {
		t.Fatalf("esc should clear the filter: %v", rowKeys(m))
	}
	press(t, m, "/", "nothing-matches")
	if !strings.Contains(m.View(), "no service matches") {
		t.Fatal("an empty filter result should say so")
	}
	press(t, m, "esc")
	if m.table.filtering || len(rowKeys(m)) != 7 {
		t.Fatal("esc while typing should cancel the filter")
	}
}

func TestSort(t *testing.T) {
	m := newTestModel(t, newFake(), 80, 24)
	if got := rowKeys(m); got[0] != "api-1" || got[len(got)-1] != "worker-1" {
		t.Fatalf("default sort by service: %v", got)
	}
	press(t, m, "s") // state: problems first
	if got := rowKeys(m); got[0] != "cache-1" && got[0] != "worker-1" {
		t.Fatalf("sort by state should put problems first: %v", got)
	}
	press(t, m, "s") // cpu, busiest first
	want := []string{"web-2", "web-1", "api-1", "cache-1", "db-1"}
	if got := rowKeys(m)[:5]; !reflect.DeepEqual(got, want) {
		t.Fatalf("sort by cpu: %v, want %v", got, want)
	}
	press(t, m, "S")
	if got := rowKeys(m); got[len(got)-1] != "web-2" {
		t.Fatalf("S should reverse: %v", got)
	}
	if !strings.Contains(m.View(), "CPU▲") {
		t.Fatal("the header should show the reversed sort column")
	}
	// The selection follows its row through a re-sort.
	selectRow(t, m, "db-1")
	press(t, m, "s")
	if r := m.table.selected(); r == nil || r.service != "db" {
		t.Fatalf("selection moved to %+v after sorting", r)
	}
	for i := 0; i < len(sortColumns)-1; i++ {
		press(t, m, "s")
	}
	if m.table.sortCol != sortColumns[2] {
		t.Fatalf("s should cycle through the sort columns, at %v", m.table.sortCol)
	}
}

func TestLogsSearch(t *testing.T) {
	m := newTestModel(t, newFake(), 80, 24)
	press(t, m, "2")
	if m.view != viewLogs || m.logs.ring.n != 40 {
		t.Fatalf("logs view with 40 lines, got view %v and %d lines", m.view, m.logs.ring.n)
	}
	press(t, m, "/", "error", "enter")
	if len(m.logs.matches) != 7 {
		t.Fatalf("%d matches for error, want 7", len(m.logs.matches))
	}
	if m.logs.cur != 6 || m.logs.follow {
		t.Fatalf("after searching from the bottom the newest match is current and follow is off (cur %d follow %v)", m.logs.cur, m.logs.follow)
	}
	lineOf := func() string { return m.logs.ring.at(m.logs.matches[m.logs.cur]).text }
	press(t, m, "n")
	if m.logs.cur != 0 || !strings.Contains(m.status.text, "wrapped") {
		t.Fatalf("n past the last match wraps to the first (cur %d, status %q)", m.logs.cur, m.status.text)
	}
	if !strings.Contains(lineOf(), "#3)") {
		t.Fatalf("first match is %q", lineOf())
	}
	press(t, m, "n", "n")
	if m.logs.cur != 2 {
		t.Fatalf("n n: cur %d, want 2", m.logs.cur)
	}
	press(t, m, "N")
	if m.logs.cur != 1 || !strings.Contains(m.status.text, "match 2 of 7") {
		t.Fatalf("N: cur %d status %q", m.logs.cur, m.status.text)
	}
	if v := m.View(); !strings.Contains(v, "▸") {
		t.Fatalf("the current match should be marked on screen:\n%s", v)
	}
	press(t, m, "m")
	if m.logs.count() != 7 {
		t.Fatalf("only matches: %d lines shown, want 7", m.logs.count())
	}
	for _, l := range strings.Split(m.View(), "\n")[4:11] {
		if !strings.Contains(strings.ToLower(l), "error") {
			t.Fatalf("only matching lines should be shown, got %q", l)
		}
	}
	press(t, m, "m", "esc")
	if m.logs.search != "" || m.logs.only {
		t.Fatal("esc clears the search")
	}
	press(t, m, "n")
	if !strings.Contains(m.status.text, "no search") {
		t.Fatalf("n without a search: %q", m.status.text)
	}
	press(t, m, "/", "zzz", "enter")
	if !strings.Contains(m.status.text, "no line matches") {
		t.Fatalf("a search without a match: %q", m.status.text)
	}
}

func TestLogsKeys(t *testing.T) {
	m := newTestModel(t, newFake(), 80, 24)
	press(t, m, "2", "g")
	if m.logs.follow || m.logs.top != m.logs.ring.first {
		t.Fatal("g goes to the top and stops following")
	}
	if !strings.Contains(m.View(), "(#0)") {
		t.Fatal("the first line should be on screen after g")
	}
	press(t, m, "down")
	if m.logs.top != m.logs.ring.first+1 {
		t.Fatal("down scrolls one line")
	}
	press(t, m, "G")
	if !m.logs.follow || !strings.Contains(m.View(), "(#38)") {
		t.Fatal("G goes to the bottom and follows")
	}
	press(t, m, "t")
	if !strings.Contains(m.View(), "11:59:58.500") {
		t.Fatal("t shows timestamps")
	}
	press(t, m, "W")
	if !m.logs.wrap || !strings.Contains(m.View(), "wrap") {
		t.Fatal("W toggles wrap")
	}
	press(t, m, "f")
	if m.logs.follow {
		t.Fatal("f toggles follow")
	}
	press(t, m, "s")
	if m.logs.service != "api" || m.logs.ring.n != 8 {
		t.Fatalf("s shows one service: %q with %d lines", m.logs.service, m.logs.ring.n)
	}
	// Only that service's new lines are added.
	send(t, m, eventsMsg{events: []engine.Event{
		{Kind: engine.KindLog, Resource: engine.ResContainer, Name: "dvt-web-1", Service: "web", Replica: 1, Line: "not me", Time: fixedNow},
		{Kind: engine.KindLog, Resource: engine.ResContainer, Name: "dvt-api-1", Service: "api", Replica: 1, Line: "me", Time: fixedNow},
	}})
	if m.logs.ring.n != 9 {
		t.Fatalf("%d lines after a batch, want 9", m.logs.ring.n)
	}
	// From the services table, l opens the logs of the selection.
	press(t, m, "1")
	selectRow(t, m, "db-1")
	press(t, m, "l")
	if m.view != viewLogs || m.logs.service != "db" {
		t.Fatalf("l: view %v service %q", m.view, m.logs.service)
	}
	press(t, m, "2")
	if m.logs.service != "db" {
		t.Fatal("2 while in logs keeps the service")
	}
	press(t, m, "1", "2")
	if m.logs.service != "" {
		t.Fatal("2 from another view shows all services")
	}
}

func TestConfirmation(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 80, 24)
	selectRow(t, m, "db-1")
	press(t, m, "x")
	if m.confirm == nil || !strings.Contains(m.View(), "Stop db (1 container)? (y/n)") {
		t.Fatal("stop should ask first")
	}
	press(t, m, "down", "r") // other keys do nothing while asking
	if len(fb.callList()) != 0 {
		t.Fatalf("nothing runs before the answer: %v", fb.callList())
	}
	press(t, m, "n")
	if m.confirm != nil || len(fb.callList()) != 0 || !strings.Contains(m.status.text, "cancelled") {
		t.Fatalf("n cancels: confirm %v calls %v status %q", m.confirm, fb.callList(), m.status.text)
	}
	press(t, m, "x", "y")
	if got := fb.callList(); !reflect.DeepEqual(got, []string{"stop db"}) {
		t.Fatalf("calls %v", got)
	}
	if !strings.Contains(m.status.text, "stopped db") {
		t.Fatalf("status %q", m.status.text)
	}

	for _, c := range []struct {
		keys []string
		row  string
		call string
	}{
		{[]string{"c", "y"}, "api-1", "recreate api"},
		{[]string{"b", "y"}, "web-2", "rebuild web"},
		{[]string{"-", "y"}, "web-1", "scale web=1"},
		{[]string{"+"}, "web-1", "scale web=3"},
		{[]string{"r"}, "cache-1", "restart cache"},
		{[]string{"u"}, "worker-1", "start worker"},
	} {
		fb.calls = nil
		selectRow(t, m, c.row)
		press(t, m, c.keys[0])
		if len(c.keys) > 1 && m.confirm == nil {
			t.Fatalf("%s should ask", c.call)
		}
		if len(c.keys) == 1 && m.confirm != nil {
			t.Fatalf("%s should not ask", c.call)
		}
		press(t, m, c.keys[1:]...)
		if got := fb.callList(); !reflect.DeepEqual(got, []string{c.call}) {
			t.Fatalf("keys %v on %s: calls %v, want %s", c.keys, c.row, got, c.call)
		}
	}

	// Rebuilding a service without a build section is refused up front.
	fb.calls = nil
	selectRow(t, m, "cache-1")
	press(t, m, "b")
	if m.confirm != nil || len(fb.callList()) != 0 || !strings.Contains(m.status.text, "no build section") {
		t.Fatalf("rebuild of cache: confirm %v calls %v status %q", m.confirm, fb.callList(), m.status.text)
	}
	// Actions work from the detail view too.
	press(t, m, "enter", "r")
	if got := fb.callList(); !reflect.DeepEqual(got, []string{"restart cache"}) {
		t.Fatalf("restart from detail: %v", got)
	}
}

func TestActionErrorInStatusLine(t *testing.T) {
	fb := newFake()
	fb.errs["restart"] = errBoom
	m := newTestModel(t, fb, 80, 24)
	press(t, m, "r")
	if m.status.kind != statusError || !strings.Contains(m.status.text, "restart api: boom: daemon said no") {
		t.Fatalf("status %v %q", m.status.kind, m.status.text)
	}
	if !strings.Contains(m.View(), "✗ restart api: boom") {
		t.Fatal("the error should be on screen")
	}
	if len(m.actions) != 0 {
		t.Fatal("a failed action is no longer running")
	}
	// The UI goes on.
	press(t, m, "down")
	if r := m.table.selected(); r == nil || r.service != "cache" {
		t.Fatal("keys still work after an error")
	}
}

type panicky struct{ *fakeBackend }

func (panicky) Restart(context.Context, string) error { panic("nil map somewhere") }

func TestActionPanicIsAnError(t *testing.T) {
	m := newTestModel(t, panicky{newFake()}, 80, 24)
	press(t, m, "r")
	if m.status.kind != statusError || !strings.Contains(m.status.text, "internal error: nil map somewhere") {
		t.Fatalf("status %q", m.status.text)
	}
}

func TestShell(t *testing.T) {
	fb := newFake()
	fb.shellErr = ErrNoShell
	m := newTestModel(t, fb, 80, 24)
	press(t, m, "e")
	if !strings.Contains(m.status.text, "api-1: its image has no shell") {
		t.Fatalf("status %q", m.status.text)
	}
	if !strings.Contains(m.View(), "has no shell") {
		t.Fatal("the no-shell message should be on screen")
	}
	selectRow(t, m, "worker-1")
	press(t, m, "e")
	if !strings.Contains(m.status.text, "worker-1 is not running (exited 1)") {
		t.Fatalf("status %q", m.status.text)
	}
	// With a shell, the command is handed to tea.ExecProcess.
	fb.shellErr = nil
	selectRow(t, m, "web-2")
	_, cmd := m.Update(keyMsg("e"))
	msg := cmd()
	ready, ok := msg.(shellReadyMsg)
	if !ok || ready.cmd == nil || ready.target != "web-2" {
		t.Fatalf("shell check returned %#v", msg)
	}
	if got := fb.callList(); got[len(got)-1] != "shell web-2" {
		t.Fatalf("calls %v", got)
	}
	_, cmd = m.Update(ready)
	if cmd == nil {
		t.Fatal("a ready shell should be executed")
	}
	send(t, m, shellDoneMsg{target: "web-2"})
	if !strings.Contains(m.status.text, "shell in web-2 closed") {
		t.Fatalf("status %q", m.status.text)
	}
}

func TestEngineBackendShellCommand(t *testing.T) {
	// The command line cmd/devorch's exec understands.
	b := &EngineBackend{project: "dvt-x", Exe: "/usr/bin/devorch", GlobalArgs: []string{"--host", "b=tcp://h:2375"}}
	cmd := exec.Command(b.Exe, append(append([]string(nil), b.GlobalArgs...), "-p", b.project, "exec", "--index", "2", "web", "sh")...)
	want := []string{"/usr/bin/devorch", "--host", "b=tcp://h:2375", "-p", "dvt-x", "exec", "--index", "2", "web", "sh"}
	if !reflect.DeepEqual(cmd.Args, want) {
		t.Fatalf("%v", cmd.Args)
	}
	for _, msg := range []string{`OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": executable file not found in $PATH`, "stat /bin/sh: no such file or directory"} {
		if !noShell(msg) {
			t.Errorf("noShell(%q) = false", msg)
		}
	}
}

func TestQuit(t *testing.T) {
	for _, c := range []struct {
		mode Mode
		keys []string
		stop bool
		quit bool
	}{
		{ModeAttach, []string{"q"}, false, true},
		{ModeAttach, []string{"ctrl+c"}, false, true},
		{ModeUp, []string{"ctrl+c"}, true, true},
		{ModeUp, []string{"q", "s"}, true, true},
		{ModeUp, []string{"q", "l"}, false, true},
		{ModeUp, []string{"q", "esc"}, false, false},
	} {
		m := newModel(newFake(), config{theme: testTheme(), now: testNow, mode: c.mode})
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		var cmd tea.Cmd
		for _, k := range c.keys {
			_, cmd = m.Update(keyMsg(k))
			if k == "q" && c.mode == ModeUp && !strings.Contains(m.View(), "s stop the stack") {
				t.Fatalf("%v: q should ask", c.keys)
			}
		}
		quit := cmd != nil && reflect.TypeOf(cmd()) == reflect.TypeOf(tea.QuitMsg{})
		if quit != c.quit || m.result.StopStack != c.stop {
			t.Errorf("mode %v keys %v: quit %v stop %v, want quit %v stop %v", c.mode, c.keys, quit, m.result.StopStack, c.quit, c.stop)
		}
		m.close()
	}
}

func TestAlertsAck(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 80, 24)
	if !strings.Contains(m.View(), "⚠ 2 alerts") {
		t.Fatal("unacknowledged alerts show a banner")
	}
	press(t, m, "4", "a")
	if got := fb.callList(); !reflect.DeepEqual(got, []string{"ack 1"}) {
		t.Fatalf("calls %v", got)
	}
	if len(m.alerts) != 1 || !strings.Contains(m.View(), "⚠ 1 alert:") {
		t.Fatalf("after one ack: %d alerts", len(m.alerts))
	}
	// A new alert arrives.
	fb.mu.Lock()
	fb.alerts = append(fb.alerts, engine.Alert{ID: 3, Time: fixedNow, Service: "db", Kind: "oom", Message: "dvt-db-1 was OOM-killed (memory limit 1.0GiB)"})
	fb.mu.Unlock()
	send(t, m, eventsMsg{events: []engine.Event{{Kind: engine.KindAlert, Service: "db", Status: "oom"}}})
	if len(m.alerts) != 2 || !strings.Contains(m.View(), "OOM-killed") {
		t.Fatal("a KindAlert event shows the new alert")
	}
	press(t, m, "A")
	if len(m.alerts) != 0 || strings.Contains(m.View(), "⚠") {
		t.Fatal("A acknowledges every alert and the banner goes")
	}
}

func TestWantStatsOnlyForVisible(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 80, 24)
	last := func() []string { fb.mu.Lock(); defer fb.mu.Unlock(); return fb.wanted[len(fb.wanted)-1] }
	if got := last(); len(got) != 5 {
		t.Fatalf("services view wants the 5 running containers on screen, got %v", got)
	}
	// Only 2 rows fit: only their containers are wanted.
	send(t, m, tea.WindowSizeMsg{Width: 80, Height: 8})
	if got := last(); len(got) != 2 {
		t.Fatalf("with 2 rows on screen: %v", got)
	}
	send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	press(t, m, "2")
	if got := last(); len(got) != 0 {
		t.Fatalf("the logs view wants no stats, got %v", got)
	}
	every := func() time.Duration { fb.mu.Lock(); defer fb.mu.Unlock(); return fb.every[len(fb.every)-1] }
	if got := every(); got != 0 {
		t.Fatalf("the logs view leaves the monitor's default interval, got %v", got)
	}
	press(t, m, "1")
	if got := every(); got != glanceStats {
		t.Fatalf("the services table samples every %v, got %v", glanceStats, got)
	}
	press(t, m, "enter")
	if got := last(); !reflect.DeepEqual(got, []string{"id-dvt-api-1"}) {
		t.Fatalf("detail wants its container: %v", got)
	}
	if got := every(); got != 0 {
		t.Fatalf("the detail view's sparklines sample at the monitor's default, got %v", got)
	}
	n := len(fb.wanted)
	press(t, m, "down", "up")
	if len(fb.wanted) != n {
		t.Fatal("WantStats is called only when the wanted set changes")
	}
	m.close()
	if got := last(); len(got) != 0 {
		t.Fatal("closing drops every stats stream")
	}
}

func TestHostsAndContainersChanging(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 80, 24)
	selectRow(t, m, "worker-1")
	// The daemon of host b goes away.
	fb.mu.Lock()
	fb.hosts[0].Reachable, fb.hosts[0].Err = false, "Cannot connect to the Docker daemon at tcp://10.99.0.2:2375"
	fb.mu.Unlock()
	send(t, m, eventsMsg{events: []engine.Event{{Kind: engine.KindHost, Host: "b", Status: "unreachable", Detail: "Cannot connect to the Docker daemon"}}})
	v := m.View()
	if !strings.Contains(v, "✗ host b unreachable") {
		t.Fatalf("banner missing:\n%s", v)
	}
	press(t, m, "6")
	if !strings.Contains(m.View(), "✗ b") {
		t.Fatal("the hosts view shows b unreachable")
	}
	press(t, m, "1")
	// Containers disappear under the selection, then new ones appear.
	fb.mu.Lock()
	fb.containers = fb.containers[:2]
	fb.mu.Unlock()
	send(t, m, eventsMsg{events: []engine.Event{{Kind: engine.KindState, Name: "dvt-worker-1", Status: "removed"}}})
	if got := rowKeys(m); len(got) != 6 {
		t.Fatalf("rows after removal: %v", got)
	}
	if r := m.table.selected(); r == nil {
		t.Fatal("the cursor should stay on a row")
	}
	checkScreen(t, m.View(), 80, 24)
	fb.mu.Lock()
	fb.containers = newFake().containers
	fb.hosts[0].Reachable = true
	fb.mu.Unlock()
	send(t, m, eventsMsg{events: []engine.Event{{Kind: engine.KindState}, {Kind: engine.KindHost, Host: "b", Status: "reachable"}}})
	if len(rowKeys(m)) != 7 || strings.Contains(m.View(), "unreachable") {
		t.Fatal("containers and host come back")
	}
	// Detail of a container that went away says so.
	press(t, m, "enter")
	fb.mu.Lock()
	fb.containers = nil
	fb.mu.Unlock()
	send(t, m, eventsMsg{events: []engine.Event{{Kind: engine.KindState}}})
	if !strings.Contains(m.View(), "no container") {
		t.Fatal("detail of a removed container")
	}
	press(t, m, "e")
	if !strings.Contains(m.status.text, "no container") {
		t.Fatalf("shell on a removed container: %q", m.status.text)
	}
}

func TestResizeEveryView(t *testing.T) {
	m := newTestModel(t, newFake(), 80, 24)
	sizes := [][2]int{{80, 24}, {160, 48}, {100, 30}, {60, 15}, {40, 10}, {200, 60}, {19, 5}}
	for _, c := range []struct {
		key  string
		want view
	}{
		{"1", viewServices}, {"2", viewLogs}, {"3", viewResources}, {"4", viewAlerts},
		{"5", viewImages}, {"6", viewHosts}, {"enter", viewDetail}, {"?", viewHelp},
	} {
		press(t, m, "1", c.key)
		if m.view != c.want {
			t.Fatalf("key %q shows %s, want %s", c.key, m.view, c.want)
		}
		for _, sz := range sizes {
			send(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			checkScreen(t, m.View(), sz[0], sz[1])
		}
	}
}

func TestStartupProgress(t *testing.T) {
	fb := newFake()
	fb.containers = nil
	up := make(chan error, 1)
	m := newModel(fb, config{theme: testTheme(), now: testNow, mode: ModeUp, upDone: up})
	t.Cleanup(m.close)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	send(t, m, eventsMsg{events: []engine.Event{
		{Kind: engine.KindProgress, Resource: engine.ResNetwork, Name: "dvt-shop_default", Status: "Created"},
		{Kind: engine.KindProgress, Resource: engine.ResImage, Name: "dvt/api:latest", Host: "local", Status: "Building"},
		{Kind: engine.KindLog, Resource: engine.ResImage, Name: "dvt/api:latest", Host: "local", Line: "Step 2/5 : RUN go build"},
		{Kind: engine.KindProgress, Resource: engine.ResContainer, Name: "dvt-shop-db-1", Service: "db", Replica: 1, Status: "Started"},
	}})
	v := m.View()
	for _, want := range []string{"Starting the stack", "Network dvt-shop_default Created", "Container db-1 Started", "starting the stack…"} {
		if !strings.Contains(v, want) {
			t.Fatalf("%q not on screen:\n%s", want, v)
		}
	}
	press(t, m, "5")
	if v := m.View(); !strings.Contains(v, "⟳ dvt/api:latest") || !strings.Contains(v, "Step 2/5") {
		t.Fatalf("the images view shows the build in progress:\n%s", v)
	}
	send(t, m, eventsMsg{events: []engine.Event{{Kind: engine.KindProgress, Resource: engine.ResImage, Name: "dvt/api:latest", Host: "local", Status: "Built"}}})
	if v := m.View(); !strings.Contains(v, "✓ dvt/api:latest") {
		t.Fatalf("a finished build is marked:\n%s", v)
	}
	drain(t, m, func() tea.Msg { return upDoneMsg{} })
	if m.starting || !strings.Contains(m.status.text, "the stack is up") {
		t.Fatalf("after up: starting %v status %q", m.starting, m.status.text)
	}
	press(t, m, "1")
	if strings.Contains(m.View(), "Starting the stack") {
		t.Fatal("the startup panel goes once up is done")
	}
	send(t, m, upDoneMsg{err: errBoom})
	if !strings.Contains(m.View(), "✗ up: boom") {
		t.Fatal("a failed up is shown")
	}
}

func TestMaskEnv(t *testing.T) {
	for in, want := range map[string]string{
		"DB_PASSWORD=x":       "DB_PASSWORD=" + masked,
		"github_token=ghp_1":  "github_token=" + masked,
		"SSH_KEY=abc":         "SSH_KEY=" + masked,
		"MYSQL_PASS=1":        "MYSQL_PASS=" + masked,
		"AWS_CREDENTIALS=a=b": "AWS_CREDENTIALS=" + masked,
		"client_secret=s":     "client_secret=" + masked,
		"LOG_LEVEL=debug":     "LOG_LEVEL=debug",
		"NOVALUE":             "NOVALUE",
	} {
		if got := maskEnv(in); got != want {
			t.Errorf("maskEnv(%q) = %q, want %q", in, got, want)
		}
	}
}

func (m *Model) hasStatus(s string) bool { return strings.Contains(m.status.text, s) }

func TestWatchToggleAndBatches(t *testing.T) {
	f := newFake()
	m := newTestModel(t, f, 80, 24)
	m.handleKey(keyMsg("w"))
	if !m.watching || !strings.Contains(m.status.text, "hot reload on") {
		t.Fatalf("w did not turn hot reload on: %q", m.status.text)
	}
	m.handleEvents([]engine.Event{{Kind: engine.KindWatch, Service: "web", Status: "sync", Detail: "3 files (0 deleted) in 12ms"}})
	if !strings.Contains(m.status.text, "watch: web sync 3 files") {
		t.Errorf("status %q", m.status.text)
	}
	m.handleKey(keyMsg("w"))
	if m.watching {
		t.Errorf("second w did not turn it off")
	}
	if calls := f.callList(); len(calls) != 2 || calls[0] != "watch true" || calls[1] != "watch false" {
		t.Errorf("calls %v", calls)
	}
}
