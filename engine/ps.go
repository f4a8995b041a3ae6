package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// PsOptions are `devorch ps`'s choices.
type PsOptions struct {
	Services []string
	All      bool // include stopped containers
	// Status filters by state (running, exited, ...); empty keeps all.
	Status []string
}

// Publisher is one published port, as compose's ps --format json reports it.
type Publisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
}

// PsEntry is one container in `devorch ps`.
type PsEntry struct {
	Name       string
	ID         string
	Image      string
	Command    string
	Project    string
	Service    string
	Replica    int
	Created    time.Time
	State      string
	Status     string
	Health     string
	ExitCode   int
	Publishers []Publisher
	Host       string
	Networks   map[string]string
	OneOff     bool
}

// Ps lists the project's containers on every host.
func (e *Engine) Ps(ctx context.Context, project string, o PsOptions) ([]PsEntry, error) {
	cs, err := e.list(ctx, project, listOptions{all: o.All || len(o.Status) > 0, services: o.Services})
	if err != nil {
		return nil, err
	}
	status := map[string]bool{}
	for _, s := range o.Status {
		status[s] = true
	}
	var out []PsEntry
	for _, c := range cs {
		if len(status) > 0 && !status[c.State] {
			continue
		}
		pe := PsEntry{
			Name: c.Name, ID: c.ID, Image: c.Image, Command: c.Command, Project: project,
			Service: c.Service, Replica: c.Replica, Created: c.Created, State: c.State,
			Status: c.Status, Health: c.Health, ExitCode: c.ExitCode, Host: c.HostName(),
			Networks: c.Networks, OneOff: c.OneOff,
		}
		seen := map[string]bool{}
		for _, p := range c.Ports {
			pub := Publisher{URL: p.IP, TargetPort: int(p.PrivatePort), PublishedPort: int(p.PublicPort), Protocol: p.Type}
			k := fmt.Sprintf("%v", pub)
			if seen[k] {
				continue
			}
			seen[k] = true
			pe.Publishers = append(pe.Publishers, pub)
		}
		sort.Slice(pe.Publishers, func(i, j int) bool {
			a, b := pe.Publishers[i], pe.Publishers[j]
			if a.TargetPort != b.TargetPort {
				return a.TargetPort < b.TargetPort
			}
			return a.URL < b.URL
		})
		out = append(out, pe)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PortsString renders publishers as docker ps does: 0.0.0.0:8080->80/tcp.
func (pe PsEntry) PortsString() string {
	var parts []string
	for _, p := range pe.Publishers {
		if p.PublishedPort == 0 {
			parts = append(parts, fmt.Sprintf("%d/%s", p.TargetPort, p.Protocol))
			continue
		}
		ip := p.URL
		if strings.Contains(ip, ":") {
			ip = "[" + ip + "]"
		}
		parts = append(parts, fmt.Sprintf("%s:%d->%d/%s", ip, p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(parts, ", ")
}
