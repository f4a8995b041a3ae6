package netctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
)

// fakeDocker keeps networks as one Docker daemon does, as far as netctl
// looks: names need not be unique (see Ensure), a subnet that overlaps
// another network's is refused, and removal can be refused.
type fakeDocker struct {
	API // what netctl must not call here: a nil interface, it panics

	mu           sync.Mutex
	nets         []network.Summary
	attached     map[string]int            // network ID → containers attached
	refuse       map[string]error          // network ID → what NetworkRemove answers
	listErr      error                     // what NetworkList answers, when set
	creates      []string                  // names created, in order
	beforeCreate func(name, subnet string) // called before a create is looked at
	seq          int
}

func (f *fakeDocker) add(name, subnet string, lbls map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(name, subnet, lbls)
}

func (f *fakeDocker) addLocked(name, subnet string, lbls map[string]string) string {
	f.seq++
	n := network.Summary{Name: name, ID: fmt.Sprintf("net%d", f.seq), Labels: lbls}
	if subnet != "" {
		n.IPAM.Config = []network.IPAMConfig{{Subnet: subnet}}
	}
	f.nets = append(f.nets, n)
	return n.ID
}

func (f *fakeDocker) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []network.Summary
	for _, n := range f.nets {
		ok := true
		for _, name := range o.Filters.Get("name") {
			ok = ok && strings.Contains(n.Name, name) // Docker matches parts of names
		}
		for _, l := range o.Filters.Get("label") {
			k, v, _ := strings.Cut(l, "=")
			ok = ok && n.Labels[k] == v
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeDocker) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nets {
		if n.ID == id {
			insp := network.Inspect{ID: id, Name: n.Name, Labels: n.Labels, Containers: map[string]network.EndpointResource{}}
			for i := 0; i < f.attached[id]; i++ {
				insp.Containers[fmt.Sprint(i)] = network.EndpointResource{}
			}
			return insp, nil
		}
	}
	return network.Inspect{}, errdefs.NotFound(fmt.Errorf("network %s not found", id))
}

func (f *fakeDocker) NetworkCreate(ctx context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	subnet := ""
	if o.IPAM != nil && len(o.IPAM.Config) > 0 {
		subnet = o.IPAM.Config[0].Subnet
	}
	if f.beforeCreate != nil {
		f.beforeCreate(name, subnet)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if subnet != "" {
		_, want, err := net.ParseCIDR(subnet)
		if err != nil {
			return network.CreateResponse{}, err
		}
		for _, n := range f.nets {
			for _, c := range n.IPAM.Config {
				if _, have, err := net.ParseCIDR(c.Subnet); err == nil && (have.Contains(want.IP) || want.Contains(have.IP)) {
					return network.CreateResponse{}, errdefs.Forbidden(errors.New("Pool overlaps with other one on this address space"))
				}
			}
		}
	}
	f.creates = append(f.creates, name)
	id := f.addLocked(name, subnet, o.Labels)
	f.nets[len(f.nets)-1].Driver, f.nets[len(f.nets)-1].Attachable = o.Driver, o.Attachable
	return network.CreateResponse{ID: id}, nil
}

// byName is the network named name, nil if none.
func (f *fakeDocker) byName(name string) *network.Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.nets {
		if f.nets[i].Name == name {
			n := f.nets[i]
			return &n
		}
	}
	return nil
}

func (f *fakeDocker) NetworkRemove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse[id]; err != nil {
		return err
	}
	for i, n := range f.nets {
		if n.ID == id {
			f.nets = append(f.nets[:i], f.nets[i+1:]...)
			return nil
		}
	}
	return errdefs.NotFound(fmt.Errorf("network %s not found", id))
}

// subnetOf is the subnet of the network named name, "" if none.
func (f *fakeDocker) subnetOf(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nets {
		if n.Name == name && len(n.IPAM.Config) > 0 {
			return n.IPAM.Config[0].Subnet
		}
	}
	return ""
}

// events collects what a Sink is given.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) sink(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Warning != "" {
		e.list = append(e.list, "warning: "+ev.Warning)
		return
	}
	e.list = append(e.list, ev.Host+" "+ev.Network+" "+ev.Status)
}
