package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FormatVersion is the version of the files the Store writes. A file of
// another version is ignored with a warning: the sketch bounds are part of
// the format, so old buckets cannot be read under new ones.
const FormatVersion = 1

// MaxHashesPerService bounds how many config hashes of one service a file
// keeps: Save drops the histories whose last sample is oldest beyond it, so
// a project's file stays bounded however often its services change.
const MaxHashesPerService = 4

// maxFileSize refuses a file that cannot be one the Store wrote for a
// reasonable project (a History is at most ~2048 counters).
const maxFileSize = 64 << 20

const formatName = "devorch-usage"

// StateDir is where devorch keeps per-user state: $XDG_STATE_HOME/devorch,
// else $HOME/.local/state/devorch; "" when neither is set. XDG asks that a
// relative XDG_STATE_HOME be ignored.
func StateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "devorch")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "devorch")
	}
	return ""
}

// Store keeps usage histories in one JSON file per project, under
// <dir>/usage/<project>.json. Writes are atomic (a temp file renamed over the
// old one); two processes saving the same project concurrently keep the last
// write, so callers Load, Merge their session in, and Save.
type Store struct{ dir string }

// Open returns the store under dir (usually StateDir(os.Getenv)); nothing
// is created until Save.
func Open(dir string) *Store { return &Store{dir: filepath.Join(dir, "usage")} }

// Path is the file that holds project's histories.
func (s *Store) Path(project string) (string, error) {
	if project == "" || project == "." || project == ".." || strings.ContainsAny(project, `/\`+"\x00") {
		return "", fmt.Errorf("usage store: bad project name %q", project)
	}
	return filepath.Join(s.dir, project+".json"), nil
}

type fileJSON struct {
	Format   string      `json:"format"`
	Version  int         `json:"version"`
	Project  string      `json:"project"`
	Services []entryJSON `json:"services"`
}

type entryJSON struct {
	Service    string   `json:"service"`
	ConfigHash string   `json:"config_hash"`
	History    *History `json:"history"`
}

// Load reads project's histories. A missing file is an empty map. A file
// that cannot be read, is corrupt or truncated, or is of another format
// version is ignored with a warning naming it: history is advice, and losing
// it must never stop a command.
func (s *Store) Load(project string) (map[Key]*History, []string) {
	out := map[Key]*History{}
	path, err := s.Path(project)
	if err != nil {
		return out, []string{err.Error()}
	}
	warn := func(why string, args ...any) (map[Key]*History, []string) {
		return map[Key]*History{}, []string{fmt.Sprintf("usage history %s ignored: ", path) + fmt.Sprintf(why, args...)}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return warn("%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return warn("%v", err)
	}
	if len(data) > maxFileSize {
		return warn("larger than %d bytes", maxFileSize)
	}
	// The header first, so a file of another version says so rather than
	// failing on fields it lays out differently.
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return warn("corrupt or truncated: %v", err)
	}
	if head.Format != formatName {
		return warn("not a devorch usage file")
	}
	if head.Version != FormatVersion {
		return warn("format version %d, this devorch reads %d", head.Version, FormatVersion)
	}
	var file fileJSON
	if err := json.Unmarshal(data, &file); err != nil {
		return warn("corrupt: %v", err)
	}
	if file.Project != project {
		return warn("holds project %q", file.Project)
	}
	for _, e := range file.Services {
		if e.Service == "" || e.History == nil {
			return warn("corrupt: an entry without service or history")
		}
		k := Key{Project: project, Service: e.Service, ConfigHash: e.ConfigHash}
		if h, ok := out[k]; ok {
			h.Merge(e.History)
		} else {
			out[k] = e.History
		}
	}
	return out, nil
}

// Save writes project's histories atomically with mode 0600, creating the
// directory (0700) if needed. Keys must belong to project (an empty Project
// is taken as project). Of each service only the MaxHashesPerService most
// recent config hashes are kept.
func (s *Store) Save(project string, m map[Key]*History) error {
	path, err := s.Path(project)
	if err != nil {
		return err
	}
	file := fileJSON{Format: formatName, Version: FormatVersion, Project: project, Services: []entryJSON{}}
	for k, h := range m {
		if k.Project != "" && k.Project != project {
			return fmt.Errorf("usage store: saving %s/%s in project %q's file", k.Project, k.Service, project)
		}
		if k.Service == "" || h == nil {
			continue
		}
		file.Services = append(file.Services, entryJSON{Service: k.Service, ConfigHash: k.ConfigHash, History: h})
	}
	// Newest first within a service, so the cut keeps the recent hashes and
	// the file's order is stable.
	sort.Slice(file.Services, func(i, j int) bool {
		a, b := file.Services[i], file.Services[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if !a.History.Last().Equal(b.History.Last()) {
			return a.History.Last().After(b.History.Last())
		}
		return a.ConfigHash < b.ConfigHash
	})
	kept := file.Services[:0]
	for i, e := range file.Services {
		if i >= MaxHashesPerService && file.Services[i-MaxHashesPerService].Service == e.Service {
			continue
		}
		kept = append(kept, e)
	}
	file.Services = kept
	data, err := json.Marshal(file)
	if err != nil {
		return fmt.Errorf("usage store: encode %s: %w", path, err)
	}
	return writeAtomic(path, data)
}

// writeAtomic writes data to a temp file beside path and renames it over
// path, so a reader sees the old file or the new one, never half of one.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("usage store: create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("usage store: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files already; chmod says so whatever the umask.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("usage store: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("usage store: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("usage store: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("usage store: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("usage store: write %s: %w", path, err)
	}
	return nil
}

// Find returns the history of project's service under hash. With none, it
// falls back to the service's history under another hash whose last sample
// is the most recent, and says so with fallback true and the key it used;
// `tune` should tell the user the numbers come from an older configuration.
func Find(m map[Key]*History, project, service, hash string) (h *History, key Key, fallback bool) {
	k := Key{project, service, hash}
	if h := m[k]; h != nil {
		return h, k, false
	}
	for c, ch := range m {
		if c.Project != project || c.Service != service || ch == nil {
			continue
		}
		if h == nil || ch.Last().After(h.Last()) || (ch.Last().Equal(h.Last()) && c.ConfigHash < key.ConfigHash) {
			h, key = ch, c
		}
	}
	return h, key, h != nil
}
