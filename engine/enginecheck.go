package engine

import (
	"context"
	"os"

	dockertypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/enginecheck"
)

// checkEngines refuses, before anything is created, what the engines the
// plan's new containers land on cannot do (enginecheck.Check): it hands over
// the facts of every reachable host, as probeHosts read them, and answers
// the check's questions about plugins and this machine's paths.
func (e *Engine) checkEngines(ctx context.Context, p *compose.Project, plan *Plan, views map[string]*hostView) error {
	facts := map[string]enginecheck.Facts{}
	for name, v := range views {
		if v == nil || !v.reachable {
			continue
		}
		facts[name] = enginecheck.FromInfo(v.host.Name, v.host.Client.ClientVersion(), isLocal(v.host.Endpoint, v.host.Address), v.info)
	}
	return enginecheck.Check(p, plan, facts, enginecheck.Lookup{
		Plugins: func(host string) (dockertypes.PluginsListResponse, error) {
			return views[host].host.Client.PluginList(ctx, filters.NewArgs())
		},
		Stat: os.Stat,
	})
}
