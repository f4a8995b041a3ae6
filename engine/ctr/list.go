package ctr

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/devorch/devorch/internal/labels"
)

// ListOptions narrows List: All includes stopped containers, SkipOneOffs
// leaves out run containers. One service in Services is filtered on the
// daemon; more are left to the caller (a label filter cannot OR them).
type ListOptions struct {
	All         bool
	SkipOneOffs bool
	Services    []string
}

// List lists a project's containers on host (endpoint is for the
// message); with project empty, every devorch container.
func List(ctx context.Context, api API, host, endpoint, project string, o ListOptions) ([]container.Summary, error) {
	f := filters.NewArgs()
	if project != "" {
		f.Add("label", labels.Project+"="+project)
	} else {
		f.Add("label", labels.Project)
	}
	if o.SkipOneOffs {
		f.Add("label", labels.OneOff+"=false")
	}
	if len(o.Services) == 1 {
		f.Add("label", labels.Service+"="+o.Services[0])
	}
	list, err := api.ContainerList(ctx, container.ListOptions{All: o.All, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers on host %q (%s): %w", host, endpoint, err)
	}
	return list, nil
}

// ListAll lists every container on the host, devorch's or not.
func ListAll(ctx context.Context, api API) ([]container.Summary, error) {
	return api.ContainerList(ctx, container.ListOptions{All: true})
}
