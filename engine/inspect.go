package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	archive "github.com/moby/go-archive"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/internal/labels"
)

// TopEntry is the process list of one container.
type TopEntry struct {
	Container string
	Host      string
	Titles    []string
	Processes [][]string
}

// Top lists the processes running in the project's containers.
func (e *Engine) Top(ctx context.Context, project string, services []string) ([]TopEntry, error) {
	cs, err := e.selectContainers(ctx, project, services, false)
	if err != nil {
		return nil, err
	}
	var out []TopEntry
	for _, c := range cs {
		t, err := ctr.Top(ctx, c.Host.Client, c.ID)
		if err != nil {
			return nil, fmt.Errorf("top of %s: %w", c.Name, err)
		}
		out = append(out, TopEntry{Container: c.Name, Host: c.HostName(), Titles: t.Titles, Processes: t.Processes})
	}
	return out, nil
}

// Port returns the public address bound to a service's private port.
func (e *Engine) Port(ctx context.Context, project, service string, privatePort int, protocol string, index int) (string, error) {
	c, err := e.findReplica(ctx, project, service, index)
	if err != nil {
		return "", err
	}
	if protocol == "" {
		protocol = "tcp"
	}
	for _, p := range c.Ports {
		if int(p.PrivatePort) == privatePort && p.Type == protocol && p.PublicPort != 0 {
			ip := p.IP
			if strings.Contains(ip, ":") {
				ip = "[" + ip + "]"
			}
			return fmt.Sprintf("%s:%d", ip, p.PublicPort), nil
		}
	}
	return "", fmt.Errorf("service %q: no port %d/%s is published", service, privatePort, protocol)
}

// ImageEntry is one image a project's container uses.
type ImageEntry struct {
	Container  string
	Host       string
	Repository string
	Tag        string
	ID         string
	Size       int64
	Created    time.Time
	Built      bool
}

// Images lists the images the project's containers use.
func (e *Engine) Images(ctx context.Context, project string, services []string) ([]ImageEntry, error) {
	cs, err := e.list(ctx, project, listOptions{all: true, services: services})
	if err != nil {
		return nil, err
	}
	var out []ImageEntry
	for _, c := range cs {
		insp, err := c.Host.Client.ImageInspect(ctx, c.ImageID)
		if err != nil {
			return nil, fmt.Errorf("inspect image of %s: %w", c.Name, err)
		}
		repo, tag := c.Image, "latest"
		if len(insp.RepoTags) > 0 {
			repo = insp.RepoTags[0]
		}
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo, tag = repo[:i], repo[i+1:]
		}
		created, _ := time.Parse(time.RFC3339Nano, insp.Created)
		out = append(out, ImageEntry{
			Container: c.Name, Host: c.HostName(), Repository: repo, Tag: tag, ID: insp.ID,
			Size: insp.Size, Created: created, Built: insp.Config != nil && insp.Config.Labels[labels.Project] == project,
		})
	}
	return out, nil
}

// ProjectEntry is one project devorch runs, found from labels.
type ProjectEntry struct {
	Name        string
	Status      string // e.g. "running(3), exited(1)"
	ConfigFiles string
	WorkingDir  string
	Hosts       []string
}

// Ls lists the projects devorch has containers for, on every reachable host.
func (e *Engine) Ls(ctx context.Context, all bool) ([]ProjectEntry, error) {
	type agg struct {
		states map[string]int
		e      ProjectEntry
		hosts  map[string]bool
	}
	m := map[string]*agg{}
	for _, h := range e.Pool.Hosts {
		cs, err := listHost(ctx, h, "", listOptions{all: true})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			name := c.Labels[labels.Project]
			a := m[name]
			if a == nil {
				a = &agg{states: map[string]int{}, hosts: map[string]bool{}, e: ProjectEntry{Name: name, ConfigFiles: c.Labels[labels.ConfigFiles], WorkingDir: c.Labels[labels.WorkingDir]}}
				m[name] = a
			}
			a.states[c.State]++
			a.hosts[c.HostName()] = true
		}
	}
	var out []ProjectEntry
	for _, a := range m {
		if !all && a.states["running"] == 0 {
			continue
		}
		var parts []string
		for _, s := range slices.Sorted(maps.Keys(a.states)) {
			parts = append(parts, fmt.Sprintf("%s(%d)", s, a.states[s]))
		}
		a.e.Status = strings.Join(parts, ", ")
		a.e.Hosts = slices.Sorted(maps.Keys(a.hosts))
		out = append(out, a.e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CopyOptions are `devorch cp`'s choices.
type CopyOptions struct {
	Source, Dest string // one of them is SERVICE:PATH
	Index        int
	FollowLink   bool
}

// Copy copies files between a service container and the local filesystem,
// with docker cp's semantics.
func (e *Engine) Copy(ctx context.Context, project string, o CopyOptions) error {
	srcSvc, srcPath, srcIn := splitServicePath(o.Source)
	dstSvc, dstPath, dstIn := splitServicePath(o.Dest)
	switch {
	case srcIn && dstIn:
		return fmt.Errorf("copying between containers is not supported")
	case srcIn:
		c, err := e.findAny(ctx, project, srcSvc, o.Index)
		if err != nil {
			return err
		}
		rc, stat, err := ctr.CopyFrom(ctx, c.Host.Client, c.ID, srcPath)
		if err != nil {
			return fmt.Errorf("copy from %s:%s: %w", c.Name, srcPath, err)
		}
		defer rc.Close()
		if dstPath == "-" {
			_, err := io.Copy(os.Stdout, rc)
			return err
		}
		info := archive.CopyInfo{Path: srcPath, Exists: true, IsDir: stat.Mode.IsDir()}
		return archive.CopyTo(rc, info, dstPath)
	case dstIn:
		c, err := e.findAny(ctx, project, dstSvc, o.Index)
		if err != nil {
			return err
		}
		srcInfo, err := archive.CopyInfoSourcePath(srcPath, o.FollowLink)
		if err != nil {
			return err
		}
		content, err := archive.TarResource(srcInfo)
		if err != nil {
			return err
		}
		defer content.Close()
		dstInfo := archive.CopyInfo{Path: dstPath}
		dstStat, err := ctr.StatPath(ctx, c.Host.Client, c.ID, dstPath)
		if err == nil {
			dstInfo.Exists, dstInfo.IsDir = true, dstStat.Mode.IsDir()
		}
		dstDir, prepared, err := archive.PrepareArchiveCopy(content, srcInfo, dstInfo)
		if err != nil {
			return err
		}
		defer prepared.Close()
		if err := ctr.CopyTo(ctx, c.Host.Client, c.ID, dstDir, prepared); err != nil {
			return fmt.Errorf("copy to %s:%s: %w", c.Name, dstPath, err)
		}
		return nil
	}
	return fmt.Errorf("one of source and destination must be SERVICE:PATH")
}

// findAny returns a service's replica, running or not (cp works on both).
func (e *Engine) findAny(ctx context.Context, project, service string, index int) (*Container, error) {
	if index <= 0 {
		index = 1
	}
	cs, err := e.list(ctx, project, listOptions{all: true, skipOneOffs: true, services: []string{service}})
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i].Replica == index {
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("service %q has no container (replica %d)", service, index)
}

func splitServicePath(s string) (service, path string, ok bool) {
	if filepath.IsAbs(s) || strings.HasPrefix(s, ".") {
		return "", s, false
	}
	svc, p, found := strings.Cut(s, ":")
	if !found || svc == "" {
		return "", s, false
	}
	return svc, p, true
}

// HumanSize renders bytes as docker does.
func HumanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3g%cB", float64(n)/float64(div), "kMGTPE"[exp])
}
