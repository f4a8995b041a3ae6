package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/moby/term"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/hosts"
)

// loadProject loads the compose model from the global flags.
func (a *app) loadProject(ctx context.Context, services []string) (*compose.Project, error) {
	p, err := compose.Load(ctx, a.loadOptions(nil))
	if err != nil {
		if errors.Is(err, compose.ErrNoConfigFile) {
			return nil, err
		}
		return nil, &loadError{err}
	}
	// An unknown service is a usage mistake, not a broken file.
	if err := compose.CheckServices(p.Project, services); err != nil {
		return nil, err
	}
	return p, nil
}

// loadValidProject loads the model for a command that creates containers
// and refuses, before anything exists, what compose.Validate finds.
func (a *app) loadValidProject(ctx context.Context, services []string) (*compose.Project, error) {
	p, err := a.loadProject(ctx, services)
	if err != nil {
		return nil, err
	}
	if err := compose.Validate(p); err != nil {
		return nil, &loadError{err}
	}
	return p, nil
}

func (a *app) loadOptions(services []string) compose.Options {
	return compose.Options{
		Files: a.files, Name: a.project, ProjectDir: a.projectDir,
		EnvFiles: a.envFiles, Profiles: a.profiles, Services: services,
	}
}

// projectOrName loads the model when there is a compose file; without one,
// a project name from -p or COMPOSE_PROJECT_NAME is enough for commands
// that work from labels (down, ps, logs, stop, ...).
func (a *app) projectOrName(ctx context.Context) (*compose.Project, string, error) {
	p, err := a.loadProject(ctx, nil)
	if err == nil {
		return p, p.Name, nil
	}
	if errors.Is(err, compose.ErrNoConfigFile) {
		name := a.project
		if name == "" {
			name = os.Getenv("COMPOSE_PROJECT_NAME")
		}
		if name != "" {
			if name != loader.NormalizeProjectName(name) {
				return nil, "", &usageError{fmt.Errorf("invalid project name %q: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number", name)}
			}
			return nil, name, nil
		}
	}
	return nil, "", err
}

// hostSpecs decides the host pool: --host, then DEVORCH_HOSTS, then the
// compose file's x-devorch hosts, else the one local host.
func (a *app) hostSpecs(p *compose.Project) ([]hosts.Spec, error) {
	var fromFile []hosts.Spec
	if p != nil {
		for name, h := range p.X.Hosts {
			fromFile = append(fromFile, hosts.Spec{Name: name, Endpoint: h.Endpoint, Address: h.Address, Labels: h.Labels})
		}
	}
	specs, err := hosts.Declared(a.hostFlags, os.Getenv("DEVORCH_HOSTS"), fromFile)
	if err != nil {
		return nil, &usageError{err}
	}
	if len(specs) > 0 {
		return specs, nil
	}
	def, err := hosts.Default(os.Getenv)
	if err != nil {
		return nil, err
	}
	return []hosts.Spec{def}, nil
}

// newEngine builds the host pool and an engine reporting to sink.
func (a *app) newEngine(p *compose.Project, sink engine.Sink) (*engine.Engine, func(), error) {
	specs, err := a.hostSpecs(p)
	if err != nil {
		return nil, nil, err
	}
	pool, err := hosts.Open(specs, os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	e := engine.New(pool, sink)
	e.Usage = usageStore()
	if a.parallel > 0 {
		e.Parallel = a.parallel
	}
	return e, pool.Close, nil
}

func isTerminal(x any) bool {
	if x == nil {
		return false
	}
	_, is := term.GetFdInfo(x)
	return is
}

// colorOn says whether to write colour to w: --ansi, NO_COLOR, then
// whether w is a terminal.
func (a *app) colorOn(w io.Writer) bool {
	switch a.ansi {
	case "never":
		return false
	case "always":
		return true
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	return isTerminal(w)
}

// progressMode resolves --progress auto.
func (a *app) progressMode() (string, error) {
	switch a.progress {
	case "auto", "":
		if isTerminal(a.errOut) && a.ansi != "never" {
			return "tty", nil
		}
		return "plain", nil
	case "tty", "plain", "quiet":
		return a.progress, nil
	case "json":
		return "plain", nil
	}
	return "", &usageError{fmt.Errorf("--progress %q: want auto, tty, plain or quiet", a.progress)}
}

// stopTimeout converts -t seconds to a duration; negative means unset.
func stopTimeout(secs int, set bool) *time.Duration {
	if !set {
		return nil
	}
	d := time.Duration(secs) * time.Second
	return &d
}

// parseScale parses --scale SERVICE=N flags.
func parseScale(flags []string) (map[string]int, error) {
	out := map[string]int{}
	for _, f := range flags {
		name, n, ok := strings.Cut(f, "=")
		if !ok {
			return nil, &usageError{fmt.Errorf("--scale %q: want SERVICE=NUM", f)}
		}
		v, err := strconv.Atoi(n)
		if err != nil {
			return nil, &usageError{fmt.Errorf("--scale %q: %q is not a number", f, n)}
		}
		out[name] = v
	}
	return out, nil
}

func sortedStrings(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
