package images

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
)

// Remove removes, host by host, the images devorch built for the project
// ("local"), or those and every image the model's services use ("all"; p
// may be nil, then only the built ones). An image already gone, or an
// untagged one still used by another image or container, is left alone.
func Remove(ctx context.Context, hs []Host, project string, p *compose.Project, mode string, sink Sink) error {
	if mode != "local" && mode != "all" {
		return fmt.Errorf("--rmi %q: want local or all", mode)
	}
	for _, h := range hs {
		refs, err := removable(ctx, h, project, p, mode)
		if err != nil {
			return err
		}
		for _, r := range slices.Sorted(maps.Keys(refs)) {
			sink.send(Event{Ref: r, Host: h.Name, Status: "Removing"})
			if _, err := h.API.ImageRemove(ctx, r, image.RemoveOptions{PruneChildren: true}); err != nil {
				if errdefs.IsNotFound(err) {
					continue
				}
				if errdefs.IsConflict(err) && strings.HasPrefix(r, "sha256:") {
					continue // still used by another image or container
				}
				return fmt.Errorf("remove image %s on host %q: %w", r, h.Name, err)
			}
			sink.send(Event{Ref: r, Host: h.Name, Status: "Removed"})
		}
	}
	return nil
}

// removable lists what Remove removes on h: the tags of the images built
// for the project (or the ID of one a rebuild untagged), and with "all" the
// image of every service.
func removable(ctx context.Context, h Host, project string, p *compose.Project, mode string) (map[string]bool, error) {
	refs := map[string]bool{}
	list, err := h.API.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", labels.Project+"="+project), filters.Arg("label", labels.Built+"=true"))})
	if err != nil {
		return nil, fmt.Errorf("list images on host %q: %w", h.Name, err)
	}
	for _, im := range list {
		tagged := false
		for _, t := range im.RepoTags {
			if t != "<none>:<none>" {
				refs[t] = true
				tagged = true
			}
		}
		if !tagged {
			// An earlier build of a service, untagged by a rebuild.
			refs[im.ID] = true
		}
	}
	if mode == "all" && p != nil {
		for _, s := range p.Services {
			refs[Ref(p, s)] = true
		}
	}
	return refs, nil
}
