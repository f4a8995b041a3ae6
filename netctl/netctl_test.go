package netctl

import (
	"net"
	"testing"
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
	got, err := Allocate(pool, 24, nil)
	if err != nil || got.String() != "10.210.0.0/24" {
		t.Fatalf("%v %v", got, err)
	}
	used := []*net.IPNet{cidr(t, "10.210.0.0/24"), cidr(t, "10.210.1.128/25"), cidr(t, "10.210.2.7/32")}
	got, err = Allocate(pool, 24, used)
	if err != nil || got.String() != "10.210.3.0/24" {
		t.Fatalf("%v %v", got, err)
	}
	// A used supernet covers the whole pool.
	if _, err := Allocate(pool, 24, []*net.IPNet{cidr(t, "10.0.0.0/8")}); err == nil {
		t.Fatal("allocated inside a used /8")
	}
	if _, err := Allocate(pool, 12, nil); err == nil {
		t.Fatal("a /12 does not fit a /16 pool")
	}
}
