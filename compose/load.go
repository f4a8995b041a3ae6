// Package compose loads and normalises compose files with compose-go and
// derives what devorch needs from them: a config hash per service, the
// dependency graph and the one walk over it (up, start, stop, rm and down
// go through the services with it), devorch's x-devorch extensions and
// warnings for fields devorch does not implement. It keeps compose-go's own
// types for the service model and never re-models the compose spec.
package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Options says which files to load and how, mirroring compose's global flags.
type Options struct {
	Files      []string // -f, in order; empty: COMPOSE_FILE, then the default names
	Name       string   // -p; empty: COMPOSE_PROJECT_NAME, the file's name:, the directory
	ProjectDir string   // --project-directory
	EnvFiles   []string // --env-file; empty: <project dir>/.env
	Profiles   []string // --profile; empty: COMPOSE_PROFILES
	// Environ is the process environment used for interpolation; nil means
	// os.Environ(). Tests pass their own.
	Environ []string
	// Services restricts the project to these services and what they need.
	Services []string
}

// ErrNoConfigFile is returned when no compose file was given or found.
var ErrNoConfigFile = errors.New("no configuration file provided: not found")

// Project is a loaded compose project plus what devorch derives from it.
type Project struct {
	*types.Project
	// Hashes holds each service's config hash (see Hash).
	Hashes map[string]string
	// Warnings lists fields devorch does not implement, naming service and field.
	Warnings []string
	// X is the parsed top-level x-devorch extension.
	X Extension
}

// Load reads the compose files named by opts with compose-go: interpolation,
// .env, env_file, extends, include, profiles and overrides all follow compose.
func Load(ctx context.Context, opts Options) (*Project, error) {
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	// The working directory comes first: default file discovery and the
	// default .env are looked up there.
	var fns []cli.ProjectOptionsFn
	if opts.ProjectDir != "" {
		fns = append(fns, cli.WithWorkingDirectory(opts.ProjectDir))
	}
	if opts.Name != "" {
		fns = append(fns, cli.WithName(opts.Name))
	}
	fns = append(fns,
		cli.WithEnv(environ),
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(opts.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(opts.Profiles...),
		cli.WithResolvedPaths(true),
		cli.WithLoadOptions(func(o *loader.Options) {
			o.KnownExtensions = map[string]any{}
		}),
	)
	po, err := cli.NewProjectOptions(opts.Files, fns...)
	if err != nil {
		return nil, err
	}
	if len(po.ConfigPaths) == 0 {
		return nil, ErrNoConfigFile
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, tidyLoadError(po.ConfigPaths, explainLoadError(po.ConfigPaths, err))
	}
	if len(opts.Services) > 0 {
		if err := CheckServices(p, opts.Services); err != nil {
			return nil, err
		}
	}
	proj, err := FromTypes(p)
	if err != nil {
		return nil, withFiles(p.ComposeFiles, err)
	}
	return proj, nil
}

// FromTypes derives devorch's view of an already loaded compose-go project.
func FromTypes(p *types.Project) (*Project, error) {
	x, err := parseExtension(p)
	if err != nil {
		return nil, err
	}
	proj := &Project{Project: p, Hashes: map[string]string{}, X: x}
	for name, svc := range p.Services {
		h, err := Hash(svc)
		if err != nil {
			return nil, fmt.Errorf("hash service %q: %w", name, err)
		}
		proj.Hashes[name] = h
		proj.Warnings = append(proj.Warnings, unsupportedFields(svc)...)
	}
	proj.Warnings = append(proj.Warnings, unsupportedTopLevel(p)...)
	sort.Strings(proj.Warnings)
	if err := checkGraph(p); err != nil {
		return nil, err
	}
	return proj, nil
}

// CheckServices returns a clear error when a named service is not in the
// project (a disabled one names its profile).
func CheckServices(p *types.Project, names []string) error {
	for _, n := range names {
		if _, ok := p.Services[n]; ok {
			continue
		}
		if d, ok := p.DisabledServices[n]; ok {
			return fmt.Errorf("service %q is not enabled: it needs profile %s", n, strings.Join(d.Profiles, " or "))
		}
		return fmt.Errorf("no such service: %q", n)
	}
	return nil
}

// explainLoadError names the file a YAML syntax error came from: compose-go
// reports the line but not always the file when several are merged.
func explainLoadError(files []string, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "yaml:") {
		return err
	}
	for _, f := range files {
		if strings.Contains(msg, f) {
			return err
		}
	}
	for _, f := range files {
		b, rerr := os.ReadFile(f)
		if rerr != nil {
			continue
		}
		var v any
		if yerr := yaml.Unmarshal(b, &v); yerr != nil {
			return fmt.Errorf("%s: %w", relPath(f), err)
		}
	}
	return err
}

func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
