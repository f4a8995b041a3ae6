package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/devorch/devorch/engine/ctr"
)

// ExecOptions are `devorch exec`'s choices.
type ExecOptions struct {
	Service    string
	Index      int // replica, default 1
	Cmd        []string
	User       string
	WorkDir    string
	Env        []string
	Privileged bool
	Detach     bool
}

// findReplica returns the running container of a service's replica.
func (e *Engine) findReplica(ctx context.Context, project, service string, index int) (*Container, error) {
	if index <= 0 {
		index = 1
	}
	cs, err := e.list(ctx, project, listOptions{all: true, skipOneOffs: true, services: []string{service}})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("service %q is not running: it has no container", service)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Replica < cs[j].Replica })
	for i := range cs {
		if cs[i].Replica == index {
			if !cs[i].Running() {
				return nil, fmt.Errorf("container %s is not running (%s)", cs[i].Name, cs[i].Status)
			}
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("service %q has no replica %d", service, index)
}

// Exec runs a command in a running container of a service and returns its
// exit code.
func (e *Engine) Exec(ctx context.Context, project string, o ExecOptions, st Streams) (int, error) {
	c, err := e.findReplica(ctx, project, o.Service, o.Index)
	if err != nil {
		return 1, err
	}
	if len(o.Cmd) == 0 {
		return 1, errors.New("exec needs a command")
	}
	code, err := ctr.Exec(ctx, c.Host.Client, c.ID, ctr.ExecRequest{
		Cmd: o.Cmd, User: o.User, WorkDir: o.WorkDir, Env: o.Env, Privileged: o.Privileged,
		Streams: st, Detach: o.Detach,
	})
	// A refused Docker call names the container; a broken stream is
	// reported as it is.
	if errors.As(err, new(ctr.ExecCallError)) {
		err = fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	return code, err
}
