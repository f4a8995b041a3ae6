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
	// Built marks an image devorch built for a service without an image:
	// name; `down --rmi local` removes only those.
	Built = Prefix + "built"
	Test  = Prefix + "test"
)

// ProjectFilter selects what belongs to project.
func ProjectFilter(project string) filters.Args {
	return filters.NewArgs(filters.Arg("label", Project+"="+project))
}
