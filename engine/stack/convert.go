// Package stack turns a compose project into the Swarm service and network
// specs `--target swarm` deploys, the way `docker stack deploy` reads a
// compose file (docker/cli's cli/compose/convert), but from compose-go's
// model and with devorch's labels. It is pure: it never calls Docker. The
// deployer decides names, images and IDs beforehand and passes them in
// Options; what Swarm cannot run comes back as warnings naming service and
// field, and what Swarm would run so differently that the service would
// break comes back as an error before anything is created.
package stack

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// Options is what the deployer decided before converting.
type Options struct {
	// Namespace is the project name; services are <ns>_<svc>.
	Namespace string
	// Images says, per service, what its tasks run.
	Images map[string]Image
	// Networks maps a compose network key to its Swarm network name
	// (usually <ns>_<key>). An external network missing here is attached
	// by its compose name.
	Networks map[string]string
	// Configs and Secrets map a compose config or secret key to the Swarm
	// object's name (content-addressed, chosen by the caller). An external
	// one missing here is referenced by its compose name.
	Configs map[string]string
	Secrets map[string]string
	// ConfigIDs and SecretIDs map a Swarm name to the object's ID, which
	// the references need; a missing ID is left empty.
	ConfigIDs, SecretIDs map[string]string
	// Hashes holds each service's devorch config hash, kept on the service
	// spec as a label.
	Hashes map[string]string
	// NoIPVS says the nodes' kernel lacks IPVS, which Swarm's virtual IPs
	// and routing mesh are built on: services then default to DNS round
	// robin and ports to host mode, and asking for either is an error.
	NoIPVS bool
}

// Image is what a service's tasks run.
type Image struct {
	// Ref is what the task spec names: an image ID ("sha256:…") so that no
	// node ever pulls, or a registry reference.
	Ref string
	// Tag is the human-readable name, kept in a label.
	Tag string
}

// ServiceName is the Swarm name of a compose service, as docker stack
// scopes it.
func ServiceName(namespace, service string) string {
	return namespace + "_" + service
}

// Services converts every service of p. Warnings come back sorted; the
// first error, in service name order, names its service.
func Services(p *types.Project, o Options) (map[string]swarm.ServiceSpec, []string, error) {
	names := slices.Sorted(maps.Keys(p.Services))
	specs := make(map[string]swarm.ServiceSpec, len(names))
	var warnings []string
	for _, name := range names {
		spec, w, err := Service(p, name, o)
		if err != nil {
			return nil, nil, err
		}
		specs[name] = spec
		warnings = append(warnings, w...)
	}
	sort.Strings(warnings)
	return specs, warnings, nil
}

// Service converts the service called name. Every error names the service
// and the field at fault.
func Service(p *types.Project, name string, o Options) (swarm.ServiceSpec, []string, error) {
	svc, ok := p.Services[name]
	if !ok {
		return swarm.ServiceSpec{}, nil, fmt.Errorf("no such service: %q", name)
	}
	spec, warnings, err := convert(p, svc, o)
	if err != nil {
		return swarm.ServiceSpec{}, nil, fmt.Errorf("service %q: %w", name, err)
	}
	for i, w := range warnings {
		warnings[i] = fmt.Sprintf("service %q: %s", name, w)
	}
	sort.Strings(warnings)
	return spec, warnings, nil
}

// convert does Service's work; its errors and warnings leave the service's
// name to the caller.
func convert(p *types.Project, s types.ServiceConfig, o Options) (swarm.ServiceSpec, []string, error) {
	var w warner
	if err := refuse(s); err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	ignored(s, &w)

	img, ok := o.Images[s.Name]
	if !ok || img.Ref == "" {
		return swarm.ServiceSpec{}, nil, errors.New("no image to run: the deployer gave none")
	}
	cs, err := containerSpec(p, s, img, o, &w)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	mode, err := serviceMode(s)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	restart, err := restartPolicy(s)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	resources, err := resources(s, &w)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	nets, err := attachments(p, s, o, &w)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	placement, err := placement(s)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	endpoint, err := endpointSpec(s, o.NoIPVS, &w)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	var deployLabels types.Labels
	var update, rollback *swarm.UpdateConfig
	if s.Deploy != nil {
		deployLabels = s.Deploy.Labels
		if update, err = updateConfig("update_config", s.Deploy.UpdateConfig); err != nil {
			return swarm.ServiceSpec{}, nil, err
		}
		if rollback, err = updateConfig("rollback_config", s.Deploy.RollbackConfig); err != nil {
			return swarm.ServiceSpec{}, nil, err
		}
	}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   ServiceName(o.Namespace, s.Name),
			Labels: serviceLabels(deployLabels, o, s.Name, img),
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     resources,
			RestartPolicy: restart,
			Placement:     placement,
			Networks:      nets,
			LogDriver:     logDriver(s),
		},
		Mode:           mode,
		UpdateConfig:   update,
		RollbackConfig: rollback,
		EndpointSpec:   endpoint,
	}
	return spec, w.list, nil
}

// serviceLabels are the service spec's labels: the deploy labels, then
// devorch's and docker stack's, which win over a user's label of the same
// key because later runs find the service by them.
func serviceLabels(deploy types.Labels, o Options, svc string, img Image) map[string]string {
	l := make(map[string]string, len(deploy)+5)
	for k, v := range deploy {
		l[k] = v
	}
	l[labels.StackNamespace] = o.Namespace
	l[labels.Project] = o.Namespace
	l[labels.Service] = svc
	if h := o.Hashes[svc]; h != "" {
		l[labels.ConfigHash] = h
	}
	if img.Tag != "" {
		l[labels.ImageTag] = img.Tag
	}
	return l
}

// containerLabels are the task containers' labels: the service's own,
// then the namespace, project and service, which `devorch ps` and docker
// stack use to find the containers.
func containerLabels(own types.Labels, namespace, svc string) map[string]string {
	l := make(map[string]string, len(own)+3)
	for k, v := range own {
		l[k] = v
	}
	l[labels.StackNamespace] = namespace
	l[labels.Project] = namespace
	l[labels.Service] = svc
	return l
}

// warner collects a service's warnings, each "<field> is ignored on a
// Swarm (<why>)" or similar, without the service's name.
type warner struct{ list []string }

func (w *warner) add(format string, args ...any) {
	w.list = append(w.list, fmt.Sprintf(format, args...))
}

// ignore records that field is not carried over to Swarm, and why.
func (w *warner) ignore(field, why string) {
	w.add("%s is ignored on a Swarm (%s)", field, why)
}
