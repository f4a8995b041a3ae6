package usage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func filled(start time.Time, n int, cpu float64, mem uint64) *History {
	h := NewHistory()
	for i := range n {
		h.Add(start.Add(time.Duration(i)*5*time.Second), cpu, mem+uint64(i)<<20, 1<<30, i%4 == 0)
	}
	return h
}

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	m := map[Key]*History{
		{"shop", "api", "h1"}: filled(t0, 50, 40, 200<<20),
		{"shop", "api", "h0"}: filled(t0.Add(-time.Hour), 10, 10, 100<<20),
		{"", "db", "h9"}:      filled(t0, 200, 5, 900<<20), // an empty Project is this project
	}
	if err := s.Save("shop", m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "usage", "shop.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, warns := s.Load("shop")
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	if len(got) != 3 {
		t.Fatalf("loaded %d histories: %v", len(got), got)
	}
	for k, want := range m {
		k.Project = "shop"
		h := got[k]
		if h == nil {
			t.Fatalf("%v missing", k)
		}
		if h.Samples() != want.Samples() || h.Span() != want.Span() || h.Throttled() != want.Throttled() ||
			h.CPUQuantile(0.95) != want.CPUQuantile(0.95) || h.MemQuantile(0.99) != want.MemQuantile(0.99) ||
			h.MemPeak() != want.MemPeak() || h.MemLimit() != want.MemLimit() {
			t.Errorf("%v did not round-trip", k)
		}
		s1, ok1 := h.MemGrowth()
		s2, ok2 := want.MemGrowth()
		if ok1 != ok2 || s1 != s2 {
			t.Errorf("%v trend %v %v, want %v %v", k, s1, ok1, s2, ok2)
		}
	}
	// Another project is another file; a missing file is no history, quietly.
	if other, warns := s.Load("blog"); len(other) != 0 || len(warns) != 0 {
		t.Errorf("missing file: %v %v", other, warns)
	}
}

func TestStoreKeepsNoTempFilesAndOverwrites(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	for i := range 3 {
		if err := s.Save("shop", map[Key]*History{{"shop", "api", "h"}: filled(t0, 10+i, 1, 1<<20)}); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "usage"))
	if len(entries) != 1 || entries[0].Name() != "shop.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files left: %v", names)
	}
	m, _ := s.Load("shop")
	if h := m[Key{"shop", "api", "h"}]; h == nil || h.Samples() != 12 {
		t.Fatalf("the last save did not win: %v", m)
	}
	// A failed write leaves the old file and no temp file: make the target a
	// directory so the rename fails.
	bad := Open(t.TempDir())
	if err := os.MkdirAll(filepath.Join(bad.dir, "x.json", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := bad.Save("x", map[Key]*History{}); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	entries, _ = os.ReadDir(bad.dir)
	if len(entries) != 1 {
		t.Errorf("a failed save left %d entries", len(entries))
	}
}

func TestStoreIgnoresBadFilesWithAWarning(t *testing.T) {
	s := Open(t.TempDir())
	if err := s.Save("shop", map[Key]*History{{"shop", "api", "h"}: filled(t0, 40, 30, 50<<20)}); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("shop")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, body, why string }{
		{"truncated", string(good[:len(good)/2]), "corrupt or truncated"},
		{"garbage", "\x00\x01not json", "corrupt or truncated"},
		{"empty", "", "corrupt or truncated"},
		{"other version", strings.Replace(string(good), `"version":1`, `"version":2`, 1), "format version 2"},
		{"not ours", `{"format":"something","version":1}`, "not a devorch usage file"},
		{"another project", strings.Replace(string(good), `"project":"shop"`, `"project":"blog"`, 1), `holds project "blog"`},
		{"bad history", strings.Replace(string(good), `"cpu_peak":`, `"cpu_peak":-`, 1), "corrupt"},
		{"entry without history", `{"format":"devorch-usage","version":1,"project":"shop","services":[{"service":"api"}]}`, "corrupt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			m, warns := s.Load("shop")
			if len(m) != 0 || m == nil {
				t.Errorf("loaded %v from a bad file", m)
			}
			if len(warns) != 1 || !strings.Contains(warns[0], path) || !strings.Contains(warns[0], c.why) {
				t.Errorf("warnings %q, want one naming %s and saying %q", warns, path, c.why)
			}
		})
	}
	// A file the store cannot read (a directory) is a warning too.
	os.Remove(path)
	os.Mkdir(path, 0o700)
	if m, warns := s.Load("shop"); len(m) != 0 || len(warns) != 1 {
		t.Errorf("unreadable file: %v %v", m, warns)
	}
}

func TestStoreRefusesPathsOutsideIt(t *testing.T) {
	s := Open(t.TempDir())
	for _, p := range []string{"", ".", "..", "../x", "a/b", `a\b`} {
		if err := s.Save(p, nil); err == nil {
			t.Errorf("Save(%q) accepted", p)
		}
		if _, warns := s.Load(p); len(warns) != 1 {
			t.Errorf("Load(%q) did not warn", p)
		}
	}
	if err := s.Save("shop", map[Key]*History{{"blog", "api", "h"}: NewHistory()}); err == nil {
		t.Error("saved another project's key")
	}
}

func TestStoreKeepsTheMostRecentHashes(t *testing.T) {
	s := Open(t.TempDir())
	m := map[Key]*History{{"p", "db", "only"}: filled(t0, 3, 1, 1<<20)}
	for i := range MaxHashesPerService + 2 {
		m[Key{"p", "api", string(rune('a' + i))}] = filled(t0.Add(time.Duration(i)*time.Hour), 3, 1, 1<<20)
	}
	if err := s.Save("p", m); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Load("p")
	if len(got) != MaxHashesPerService+1 {
		t.Fatalf("kept %d histories, want %d", len(got), MaxHashesPerService+1)
	}
	for _, old := range []string{"a", "b"} {
		if got[Key{"p", "api", old}] != nil {
			t.Errorf("kept the old hash %s", old)
		}
	}
	if got[Key{"p", "api", "f"}] == nil || got[Key{"p", "db", "only"}] == nil {
		t.Error("dropped a recent hash")
	}
}

func TestFindFallsBackToTheLatestOtherHash(t *testing.T) {
	m := map[Key]*History{
		{"p", "api", "old"}:   filled(t0, 3, 1, 1<<20),
		{"p", "api", "newer"}: filled(t0.Add(time.Hour), 3, 1, 1<<20),
		{"q", "api", "x"}:     filled(t0.Add(5*time.Hour), 3, 1, 1<<20),
		{"p", "web", "cur"}:   filled(t0, 3, 1, 1<<20),
	}
	if h, k, fb := Find(m, "p", "web", "cur"); h != m[k] || k.ConfigHash != "cur" || fb {
		t.Errorf("current hash: %v %v", k, fb)
	}
	if h, k, fb := Find(m, "p", "api", "now"); h == nil || k.ConfigHash != "newer" || !fb {
		t.Errorf("fallback: %v %v, want newer", k, fb)
	}
	if h, _, fb := Find(m, "p", "db", "x"); h != nil || fb {
		t.Error("found a history for a service without one")
	}
}

func TestStateDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name string
		env  func(string) string
		want string
	}{
		{"XDG", env("XDG_STATE_HOME", "/x/state", "HOME", "/home/u"), "/x/state/devorch"},
		{"HOME", env("HOME", "/home/u"), "/home/u/.local/state/devorch"},
		{"relative XDG is ignored", env("XDG_STATE_HOME", "rel", "HOME", "/home/u"), "/home/u/.local/state/devorch"},
		{"nothing", env(), ""},
	} {
		if got := StateDir(c.env); got != filepath.FromSlash(c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
