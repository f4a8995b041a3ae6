package netctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
)

func cidr(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAllocateSkipsEverythingInUse(t *testing.T) {
	pool := cidr(t, "10.210.0.0/16")
	got, err := allocate(pool, 24, nil)
	if err != nil || got.String() != "10.210.0.0/24" {
		t.Fatalf("%v %v", got, err)
	}
	used := []*net.IPNet{cidr(t, "10.210.0.0/24"), cidr(t, "10.210.1.128/25"), cidr(t, "10.210.2.7/32")}
	got, err = allocate(pool, 24, used)
	if err != nil || got.String() != "10.210.3.0/24" {
		t.Fatalf("%v %v", got, err)
	}
	// A used supernet covers the whole pool.
	if _, err := allocate(pool, 24, []*net.IPNet{cidr(t, "10.0.0.0/8")}); err == nil {
		t.Fatal("allocated inside a used /8")
	}
	if _, err := allocate(pool, 12, nil); err == nil {
		t.Fatal("a /12 does not fit a /16 pool")
	}
}

// staleAPI answers as Docker 20.10 does for a network with a stale
// endpoint: removal refused for active endpoints, none attached.
type staleAPI struct {
	API
	attached int
	removes  int
}

func (a *staleAPI) NetworkRemove(ctx context.Context, id string) error {
	a.removes++
	return errdefs.Forbidden(fmt.Errorf("error while removing network: network p_default id %s has active endpoints", id))
}

func (a *staleAPI) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	n := network.Inspect{ID: id, Containers: map[string]network.EndpointResource{}}
	for i := 0; i < a.attached; i++ {
		n.Containers[fmt.Sprint(i)] = network.EndpointResource{}
	}
	return n, nil
}

func TestRemoveNamesAStaleEndpoint(t *testing.T) {
	stale := &staleAPI{}
	err := Remove(context.Background(), stale, "abc")
	if !errors.Is(err, ErrStaleEndpoint) || stale.removes < 2 {
		t.Errorf("no container attached: %v after %d tries, want ErrStaleEndpoint after retries", err, stale.removes)
	}
	used := &staleAPI{attached: 1}
	if err := Remove(context.Background(), used, "abc"); err == nil || errors.Is(err, ErrStaleEndpoint) || !strings.Contains(err.Error(), "active endpoints") {
		t.Errorf("a container attached: %v, want Docker's refusal", err)
	}
}

func TestPickKeepsTheNetworkInUseElseTheOldest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	list := []network.Summary{
		{ID: "b", Created: t0.Add(time.Second)},
		{ID: "c", Created: t0},
		{ID: "a", Created: t0},
	}
	if got := list[pick(list, []int{0, 0, 0})].ID; got != "a" {
		t.Errorf("none in use: kept %s, want the oldest with the smallest ID (a)", got)
	}
	if got := list[pick(list, []int{0, 3, 5})].ID; got != "a" {
		t.Errorf("kept %s, want the one with most containers (a)", got)
	}
	if got := list[pick(list, []int{2, 0, 0})].ID; got != "b" {
		t.Errorf("kept %s, want the one in use (b) over older ones", got)
	}
}
