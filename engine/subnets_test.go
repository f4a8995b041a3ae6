package engine

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/network"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/testenv"
)

// Between allocating a network's subnet and creating the network, another
// run (another project's up on the same host) may create a network with
// that subnet; Docker then refuses the create ("Pool overlaps with other
// one on this address space"). Up reads the host again and gives the
// network the next free subnet.
func TestUpRetriesASubnetTakenMeanwhile(t *testing.T) {
	cli := testenv.Images(t)
	ths := testenv.Hosts(t, 2)
	name := testenv.NewProject(t, cli)
	dir := testenv.WriteFiles(t, "", map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    deploy: {placement: {constraints: ["node.hostname==` + ths[0].Name + `"]}}
`})
	p, err := compose.Load(context.Background(), compose.Options{ProjectDir: dir, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var specs []hosts.Spec
	for _, th := range ths {
		sp, err := hosts.ParseSpec(th.Spec())
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	pool, err := hosts.Open(specs, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := New(pool, nil)
	t.Cleanup(func() { _ = e.Down(context.Background(), name, nil, DownOptions{Volumes: true}) })

	// Another run takes the subnet this one was given, before it creates
	// its network.
	th := ths[0]
	var once sync.Once
	var taken *net.IPNet
	e.hooks.subnetGiven = func(host, key, subnet string) {
		once.Do(func() {
			if host != th.Name {
				t.Errorf("subnet given on host %q, want %q", host, th.Name)
				return
			}
			_, taken, _ = net.ParseCIDR(subnet)
			resp, err := th.Client.NetworkCreate(context.Background(), name+"-other", network.CreateOptions{
				Labels: map[string]string{"dev.devorch.test": "1"},
				IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}},
			})
			if err != nil {
				t.Errorf("create the other network with %s: %v", subnet, err)
				return
			}
			t.Cleanup(func() { _ = th.Client.NetworkRemove(context.Background(), resp.ID) })
		})
	}
	if _, err := e.Up(context.Background(), p, UpOptions{}); err != nil {
		t.Fatalf("up with its subnet taken meanwhile: %v", err)
	}
	if taken == nil {
		t.Fatal("no subnet was given: up allocated none")
	}
	insp, err := th.Client.NetworkInspect(context.Background(), name+"_default", network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(insp.IPAM.Config) != 1 {
		t.Fatalf("network %s has subnets %v, want one", insp.Name, insp.IPAM.Config)
	}
	_, got, err := net.ParseCIDR(insp.IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}
	if got.Contains(taken.IP) || taken.Contains(got.IP) {
		t.Errorf("network %s has %s, which overlaps the other network's %s", insp.Name, got, taken)
	}
}
