package engine

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/images"
)

// targetHosts returns the hosts a service's images belong on: where its
// containers run, else the first host.
func (e *Engine) targetHosts(ctx context.Context, p *compose.Project, service string) []*hosts.Host {
	cs, err := e.list(ctx, p.Name, listOptions{all: true, skipOneOffs: true, services: []string{service}})
	seen := map[string]bool{}
	var out []*hosts.Host
	if err == nil {
		for _, c := range cs {
			if !seen[c.HostName()] {
				seen[c.HostName()] = true
				out = append(out, c.Host)
			}
		}
	}
	if len(out) == 0 {
		out = append(out, e.Pool.Hosts[0])
	}
	return out
}

// Build builds the images of the services that have a build section (all
// when none are named).
func (e *Engine) Build(ctx context.Context, p *compose.Project, services []string, noCache bool) error {
	if err := compose.CheckServices(p.Project, services); err != nil {
		return err
	}
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	if err := e.pingAll(ctx); err != nil {
		return err
	}
	need := map[string][]*hosts.Host{}
	for _, s := range services {
		if p.Services[s].Build == nil {
			continue
		}
		need[s] = e.targetHosts(ctx, p, s)
	}
	if len(need) == 0 {
		e.warn("no service to build: none of the selected services has a build section")
		return nil
	}
	_, err := e.ensureImages(ctx, p, need, ImageOptions{Build: true, NoCache: noCache})
	return err
}

// Pull pulls the images of the services that have an image: field, except
// those whose pull_policy is never or build, as compose does.
func (e *Engine) Pull(ctx context.Context, p *compose.Project, services []string, ignoreBuildable bool) error {
	if err := compose.CheckServices(p.Project, services); err != nil {
		return err
	}
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	if err := e.pingAll(ctx); err != nil {
		return err
	}
	need := map[string][]*hosts.Host{}
	for _, name := range services {
		s := p.Services[name]
		if s.Image == "" || (s.Build != nil && ignoreBuildable) {
			continue
		}
		if s.PullPolicy == types.PullPolicyNever || s.PullPolicy == types.PullPolicyBuild {
			e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: s.Image, Service: name, Status: "Skipped", Detail: "(pull_policy: " + s.PullPolicy + ")"})
			continue
		}
		need[name] = e.targetHosts(ctx, p, name)
	}
	// Build-only services are skipped, as compose does.
	pullOnly := map[string][]*hosts.Host{}
	for name, hs := range need {
		if p.Services[name].Build != nil {
			s := p.Services[name]
			for _, h := range hs {
				if _, err := images.Pull(ctx, imageHost(h), s.Image, s.Platform, false, e.imageEvent); err != nil {
					if ignoreBuildable {
						continue
					}
					return &images.PullError{Err: fmt.Errorf("service %q: %w", name, err)}
				}
			}
			continue
		}
		pullOnly[name] = hs
	}
	_, err := e.ensureImages(ctx, p, pullOnly, ImageOptions{Pull: "always"})
	return err
}
