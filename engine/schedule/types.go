package schedule

import (
	"fmt"
	"strings"
)

// Strategy chooses how feasible hosts are ranked.
type Strategy string

const (
	// Spread prefers the host with the least expected use (declared plus
	// soft reservations, see Service), then the one running the fewest
	// containers; replicas of one service go to different hosts while there
	// are hosts without one, and hosts whose expected use stays within
	// capacity come before those it would exceed.
	Spread Strategy = "spread"
	// Binpack prefers the host with the most expected use where it still
	// fits capacity, filling one host before the next.
	Binpack Strategy = "binpack"
)

// PortKey is a published host port. An empty HostIP (or "0.0.0.0", "::")
// means all interfaces and clashes with any address on the same port and
// protocol; an empty Protocol means "tcp".
type PortKey struct {
	HostIP   string
	Port     uint16
	Protocol string
}

// String renders the port as "8080/tcp" or "127.0.0.1:8080/tcp".
func (k PortKey) String() string {
	k = k.normal()
	p := fmt.Sprintf("%d/%s", k.Port, k.Protocol)
	switch {
	case k.HostIP == "":
		return p
	case strings.Contains(k.HostIP, ":"):
		return "[" + k.HostIP + "]:" + p
	default:
		return k.HostIP + ":" + p
	}
}

func (k PortKey) normal() PortKey {
	k.Protocol = strings.ToLower(strings.TrimSpace(k.Protocol))
	if k.Protocol == "" {
		k.Protocol = "tcp"
	}
	ip := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(k.HostIP), "["), "]")
	if ip == "0.0.0.0" || ip == "::" {
		ip = ""
	}
	k.HostIP = ip
	return k
}

// Host is what placement knows about one Docker host.
type Host struct {
	Name      string
	Reachable bool
	Err       string // why the host is unreachable
	Labels    map[string]string
	// NanoCPUs and MemoryBytes are the host's capacity; 0 means unknown,
	// which placement treats as no limit.
	NanoCPUs    int64
	MemoryBytes int64
	OS, Arch    string // as Docker reports them ("linux", "x86_64" or "amd64")
	// ReservedNanoCPUs and ReservedMemory are reserved by devorch
	// containers on this host that are not part of the request.
	ReservedNanoCPUs, ReservedMemory int64
	// Containers counts containers running there that are not part of the
	// request.
	Containers int
	// UsedPorts are published host ports in use there by anything that is
	// not part of the request, with who holds them ("container web-1",
	// "process").
	UsedPorts map[PortKey]string
	Local     bool // not used for placement; carried for the caller
}

// Service is what placement needs from one compose service.
type Service struct {
	Name     string
	Replicas int
	// Constraints are deploy.placement.constraints: "node.hostname==a",
	// "node.labels.zone != b", "node.platform.os==linux",
	// "node.platform.arch==arm64".
	Constraints []string
	// ReservedNanoCPUs and ReservedMemory are the declared reservations
	// (deploy.resources.reservations): a host without that much free is
	// refused, and they count in the score.
	ReservedNanoCPUs, ReservedMemory int64
	// SoftNanoCPUs and SoftMemory are what the service is expected to use,
	// from recorded history, for a service that declares no reservation.
	// They only rank hosts, never refuse one: recorded use is a guess, and
	// a guess must not make a stack unplaceable. A declared reservation
	// wins: a Soft value is ignored when the Reserved value of the same
	// resource is set.
	SoftNanoCPUs, SoftMemory int64
	Ports                    []PortKey // published fixed host ports
	Platform                 string    // "linux/amd64"; "" = any
	Volumes                  []string  // named volume keys it mounts
	// Follows names the service whose host this one must share
	// (network_mode, ipc or pid "service:x", volumes_from). Every replica
	// goes where the target's replica 1 goes.
	Follows  string
	Networks []string
}

// Network is a compose network as placement sees it.
type Network struct {
	Name     string
	Colocate bool // x-devorch: {colocate: true}: all its services on one host
}

// ReplicaKey names one replica; Replica is 1-based.
type ReplicaKey struct {
	Service string
	Replica int
}

// Request is everything one placement needs.
type Request struct {
	Hosts    []Host
	Services []Service
	Networks []Network
	Strategy Strategy // "" means Spread
	// Current is where each existing replica runs now. A replica stays on
	// its current host when that host is still feasible for it.
	Current map[ReplicaKey]string
	// VolumeHosts maps a volume key to the host that holds its data.
	VolumeHosts map[string]string
	// Explain fills Result.Reasons (costly: one verdict per replica and
	// host).
	Explain bool
}

// Result is a placement.
type Result struct {
	Assignments []Assignment // sorted by service, then replica
	// Reasons holds, when Request.Explain is set, a verdict for every host
	// per replica, sorted by host name.
	Reasons map[ReplicaKey][]HostVerdict
	// VolumeHosts maps every volume mounted by a placed service to the host
	// that holds (or will hold) its data: the requested ones and the ones
	// this placement chose.
	VolumeHosts map[string]string
	// Soft lists, by service name, the soft reservations that took part in
	// ranking hosts, so a dry run can say which recorded numbers it used.
	Soft []SoftUse
}

// SoftUse is the soft reservation placement counted for one service: the
// recorded use of a resource it declares no reservation for, 0 otherwise.
type SoftUse struct {
	Service          string
	NanoCPUs, Memory int64
}

// String renders the use as "api 0.35 CPUs 240MiB", leaving out a zero.
func (u SoftUse) String() string {
	s := u.Service
	if u.NanoCPUs > 0 {
		s += " " + cpus(u.NanoCPUs) + " " + cpuWord(u.NanoCPUs)
	}
	if u.Memory > 0 {
		s += " " + bytesIEC(u.Memory)
	}
	return s
}

// Assignment places one replica on one host.
type Assignment struct {
	Service string
	Replica int
	Host    string
	Moved   bool // it had a current host and now goes elsewhere
	// Why names what decided: "kept", "spread: least reserved", "spread:
	// least expected use (reserved + recorded)", "follows db", ...
	Why string
}

// HostVerdict is what placement concluded about one host for one replica.
type HostVerdict struct {
	Host     string
	Placed   bool    // the replica goes here
	Feasible bool    // every filter accepted the host
	Score    float64 // 0..100, higher is better; set when Feasible
	Reason   string  // why refused, why chosen, or "feasible"
}

// Unplaceable is returned when some replica fits on no host.
type Unplaceable struct {
	Service string
	Replica int
	// Group lists the other services that must share this replica's host
	// (follows, volumes, colocated networks), sorted; empty when none.
	Group []string
	// Conflict is set when the group's fixed pins disagree, e.g. two
	// volumes whose data is on different hosts.
	Conflict string
	PerHost  []HostVerdict // every host with its reason, sorted by host name
}

func (e *Unplaceable) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot place service %q (replica %d)", e.Service, e.Replica)
	if len(e.Group) > 0 {
		b.WriteString(" with ")
		for i, g := range e.Group {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", g)
		}
		b.WriteString(" on one host")
	}
	if e.Conflict != "" {
		b.WriteString(": ")
		b.WriteString(e.Conflict)
	}
	if len(e.PerHost) == 0 {
		b.WriteString(": no hosts")
		return b.String()
	}
	b.WriteString(":")
	for _, v := range e.PerHost {
		b.WriteString("\n  ")
		b.WriteString(v.Host)
		b.WriteString(": ")
		b.WriteString(v.Reason)
	}
	return b.String()
}

// InvalidRequest is returned, before any placement, for a request that
// cannot be understood: a malformed constraint or platform, a follow cycle,
// duplicate names, negative quantities.
type InvalidRequest struct {
	Service string // the service at fault, "" when none
	Reason  string
}

func (e *InvalidRequest) Error() string {
	if e.Service == "" {
		return e.Reason
	}
	return fmt.Sprintf("service %q: %s", e.Service, e.Reason)
}
