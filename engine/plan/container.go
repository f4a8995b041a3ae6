package plan

import (
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/labels"
)

// Container is one container devorch manages, as Docker reports it.
type Container struct {
	Host     *hosts.Host
	ID       string
	Name     string
	Image    string
	ImageID  string // the image the container runs (Docker's ImageID)
	Service  string
	Replica  int
	Hash     string
	OneOff   bool
	State    string // created, running, paused, restarting, removing, exited, dead
	Status   string // Docker's human status
	Health   string // "", starting, healthy, unhealthy
	ExitCode int
	Labels   map[string]string
	Created  time.Time
	Ports    []container.Port
	Command  string
	Networks map[string]string // network name → IP address
	// NetworkIDs are the IDs of the networks it is on.
	NetworkIDs []string
}

// HostName is the container's devorch host name.
func (c *Container) HostName() string {
	if c.Host == nil {
		return c.Labels[labels.Host]
	}
	return c.Host.Name
}

// Running reports whether the container is up (running or restarting).
func (c *Container) Running() bool { return c.State == "running" || c.State == "restarting" }

// ShortID is the container's ID as docker ps shows it.
func (c *Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}
