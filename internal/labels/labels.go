// Package labels names the labels devorch writes on everything it creates.
// Docker is devorch's only state: these labels are how a later run finds
// what an earlier one made.
package labels

import "github.com/docker/docker/api/types/filters"

const (
	Prefix      = "dev.devorch."
	Project     = Prefix + "project"
	Service     = Prefix + "service"
	Replica     = Prefix + "replica"
	ConfigHash  = Prefix + "config-hash"
	ImageID     = Prefix + "image-id"
	Host        = Prefix + "host"
	OneOff      = Prefix + "oneoff"
	WorkingDir  = Prefix + "working-dir"
	ConfigFiles = Prefix + "config-files"
	DependsOn   = Prefix + "depends-on"
	Network     = Prefix + "network"
	Volume      = Prefix + "volume"
	Version     = Prefix + "version"
	// Links records the cross-host links a container was created with, so
	// that a change of placement that changes them recreates it.
	Links = Prefix + "links"
	// ReserveCPUs and ReserveMemory are what a container reserved (nano
	// CPUs, bytes), so that placement subtracts them from its host's
	// capacity in later runs; Placement is the scheduler's reason for the
	// container's host.
	ReserveCPUs   = Prefix + "reserve-nanocpus"
	ReserveMemory = Prefix + "reserve-memory"
	Placement     = Prefix + "placement"
	// Helper marks the helper image and containers that move volume data
	// between hosts.
	Helper = Prefix + "helper"
	// Built marks an image devorch built for a service without an image:
	// name; `down --rmi local` removes only those.
	Built = Prefix + "built"
	// SwarmFormed marks, in its spec, a Swarm `devorch hosts join`
	// initialised; SwarmJoined marks a node it joined to one. `hosts
	// leave` undoes only what carries them. A Swarm node devorch touched
	// also carries its devorch host name (Host).
	SwarmFormed = Prefix + "swarm-formed"
	SwarmJoined = Prefix + "swarm-joined"
	// Test marks test images and test-only resources; TestContent is a
	// test image's content hash (rebuilt when it changes).
	Test        = Prefix + "test"
	TestContent = Prefix + "test-content"
	// ImageTag is the human-readable image name of a Swarm service whose
	// task spec names the image by ID, so that an operator reading the
	// service still sees what it runs.
	ImageTag = Prefix + "image-tag"
	// StackNamespace is docker stack's own label: with it, devorch's
	// Swarm services, networks and volumes show up in `docker stack ls`,
	// `docker stack ps` and `docker stack rm` as one stack.
	StackNamespace = "com.docker.stack.namespace"
)

// ProjectFilter selects what belongs to project.
func ProjectFilter(project string) filters.Args {
	return filters.NewArgs(filters.Arg("label", Project+"="+project))
}
