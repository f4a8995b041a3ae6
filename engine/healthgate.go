package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
)

// checkHealthGates refuses, once the images are present and before any
// network or container exists, a depends_on condition service_healthy on a
// service that has no healthcheck: none in the compose file (compose.Validate
// refuses a disabled one) and none in its image. compose finds this only
// while it waits ("container x has no healthcheck configured"), after it has
// created and started everything that comes first.
func (e *Engine) checkHealthGates(ctx context.Context, p *compose.Project, set []string, images map[string]map[string]string) error {
	for _, name := range set {
		s := p.Services[name]
		for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if s.DependsOn[dep].Condition != types.ServiceConditionHealthy {
				continue
			}
			d, ok := p.Services[dep]
			if !ok {
				continue
			}
			// A test in the file wins; interval and the like without one
			// keep the image's test, as Docker merges them.
			if hc := d.HealthCheck; hc != nil && len(hc.Test) > 0 {
				continue
			}
			// Not built, pulled or found in this run (up --no-deps): its
			// container is already there and the wait says what it has.
			ids := images[dep]
			for _, hostName := range slices.Sorted(maps.Keys(ids)) {
				h := e.Pool.Get(hostName)
				if h == nil || ids[hostName] == "" {
					continue
				}
				insp, err := h.Client.ImageInspect(ctx, ids[hostName])
				if err != nil {
					return fmt.Errorf("inspect the image of service %q on host %q: %w", dep, hostName, err)
				}
				if insp.Config == nil || insp.Config.Healthcheck == nil || len(insp.Config.Healthcheck.Test) == 0 || insp.Config.Healthcheck.Test[0] == "NONE" {
					return fmt.Errorf("service %q: depends_on.%s: condition service_healthy, but service %q has no healthcheck configured (none in the compose file, none in image %s)", name, dep, dep, ImageRef(p, d))
				}
				break // one host's copy of the image is enough
			}
		}
	}
	return nil
}
