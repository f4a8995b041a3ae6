package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Leak is one resource left behind by a test project.
type Leak struct {
	Kind    string // container, network, volume, image
	Project string
	Name    string // container/network/volume name or image tag ("" if none)
	ID      string
}

func (l Leak) String() string {
	if l.Kind == "volume" || l.Name == l.ID {
		return fmt.Sprintf("%s %s (project %s)", l.Kind, l.ID, l.Project)
	}
	id := strings.TrimPrefix(l.ID, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if l.Name == "" {
		return fmt.Sprintf("%s %s (project %s)", l.Kind, id, l.Project)
	}
	return fmt.Sprintf("%s %s [%s] (project %s)", l.Kind, l.Name, id, l.Project)
}

// Leaks is the error CheckLeaks returns.
type Leaks []Leak

func (ls Leaks) Error() string {
	lines := make([]string, len(ls))
	for i, l := range ls {
		lines[i] = "  " + l.String()
	}
	return fmt.Sprintf("%d leaked test resource(s):\n%s", len(ls), strings.Join(lines, "\n"))
}

func (ls Leaks) projects() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range ls {
		if !seen[l.Project] {
			seen[l.Project] = true
			out = append(out, l.Project)
		}
	}
	sort.Strings(out)
	return out
}

// CheckLeaks reports containers (running or not), networks, volumes and
// images labelled dev.devorch.project=dvt-*. The error is a Leaks value.
func CheckLeaks(ctx context.Context, cli client.APIClient) error {
	leaks, err := findLeaks(ctx, cli, func(string) bool { return true })
	if err != nil {
		return err
	}
	if len(leaks) > 0 {
		return leaks
	}
	return nil
}

// findLeaks lists resources of dvt- projects accepted by keep.
func findLeaks(ctx context.Context, cli client.APIClient, keep func(project string) bool) (Leaks, error) {
	var leaks Leaks
	add := func(kind string, labels map[string]string, name, id string) {
		p := labels[LabelProject]
		if strings.HasPrefix(p, ProjectPrefix) && keep(p) {
			leaks = append(leaks, Leak{Kind: kind, Project: p, Name: name, ID: id})
		}
	}
	f := filters.NewArgs(filters.Arg("label", LabelProject))

	// Swarm services, configs and secrets (--target swarm), on a manager;
	// another daemon refuses to list them.
	if svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: f}); err == nil {
		for _, s := range svcs {
			add("service", s.Spec.Labels, s.Spec.Name, s.ID)
		}
		cfgs, _ := cli.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
		for _, c := range cfgs {
			add("config", c.Spec.Labels, c.Spec.Name, c.ID)
		}
		secs, _ := cli.SecretList(ctx, swarm.SecretListOptions{Filters: f})
		for _, c := range secs {
			add("secret", c.Spec.Labels, c.Spec.Name, c.ID)
		}
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range cs {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		add("container", c.Labels, name, c.ID)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	for _, n := range ns {
		add("network", n.Labels, n.Name, n.ID)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		add("volume", v.Labels, v.Name, v.Name)
	}
	is, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	for _, im := range is {
		name := ""
		if len(im.RepoTags) > 0 {
			name = im.RepoTags[0]
		}
		add("image", im.Labels, name, im.ID)
	}
	return leaks, nil
}

// Cleanup force-removes everything labelled dev.devorch.project=project:
// containers (with their anonymous volumes), networks, volumes and images.
// Missing resources are not an error.
func Cleanup(ctx context.Context, cli client.APIClient, project string) error {
	f := filters.NewArgs(filters.Arg("label", LabelProject+"="+project))
	var errs []error
	keep := func(err error) {
		if err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}

	// Swarm services first (on a manager; others refuse to list them),
	// or they would start new tasks for the containers removed below.
	if svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: f}); err == nil {
		for _, s := range svcs {
			keep(cli.ServiceRemove(ctx, s.ID))
		}
		cfgs, _ := cli.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
		for _, c := range cfgs {
			keep(cli.ConfigRemove(ctx, c.ID))
		}
		secs, _ := cli.SecretList(ctx, swarm.SecretListOptions{Filters: f})
		for _, c := range secs {
			keep(cli.SecretRemove(ctx, c.ID))
		}
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	keep(err)
	for _, c := range cs {
		keep(cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	keep(err)
	for _, n := range ns {
		err := cli.NetworkRemove(ctx, n.ID)
		if n.Scope == "swarm" && err != nil && (strings.Contains(err.Error(), "not a swarm manager") || strings.HasSuffix(err.Error(), " not found")) {
			continue // an overlay seen from a worker, or removed and still listed: its manager's cleanup removes it
		}
		keep(err)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	keep(err)
	for _, v := range vs.Volumes {
		keep(cli.VolumeRemove(ctx, v.Name, true))
	}
	is, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
	keep(err)
	for _, im := range is {
		_, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		keep(err)
	}
	return errors.Join(errs...)
}

// Every process using Docker through testenv holds a shared flock on
// activeLockPath until it exits; Main upgrades it to an exclusive lock
// (non-blocking) to learn whether it is the only such process left.
var (
	activeOnce sync.Once
	activeFile *os.File
)

func activeLockPath() string { return filepath.Join(os.TempDir(), "devorch-testenv-active.lock") }

func markActive() {
	activeOnce.Do(func() {
		f, err := os.OpenFile(activeLockPath(), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
			f.Close()
			return
		}
		activeFile = f
	})
}

// tryExclusive reports whether no other testenv process is running.
func tryExclusive() bool {
	markActive()
	if activeFile == nil {
		return false
	}
	return syscall.Flock(int(activeFile.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
