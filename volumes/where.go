package volumes

import (
	"context"
	"slices"
	"sort"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/volume"

	"github.com/devorch/devorch/internal/labels"
)

// Location is one of the project's volumes on one host.
type Location struct {
	Name   string
	Key    string // the compose volume key; empty on a volume devorch did not create
	Host   string
	Driver string
	Size   int64 // bytes of data, -1 when the host does not say
}

// Data says where the data of the project's volumes is.
type Data struct {
	// All is every volume of the project on every host, sorted by name,
	// then host.
	All []Location
	// Host is, for each compose volume key, the host whose copy the
	// services that mount it follow.
	Host map[string]string
	// Split holds the keys whose volume is on several hosts (a copy left
	// on a host that was unreachable while the services moved), with those
	// hosts sorted by name; Host follows the first.
	Split map[string][]string
}

// Where says where the data of the project's volumes is, from the volumes
// read on each host (List, or Usage for sizes). Volumes of other projects
// are ignored. A volume on several hosts is followed to the first host by
// name, so that every run picks the same.
func Where(project string, onHost map[string][]*volume.Volume) Data {
	d := Data{Host: map[string]string{}, Split: map[string][]string{}}
	hostsOf := map[string][]string{}
	for host, vs := range onHost {
		for _, v := range vs {
			if v.Labels[labels.Project] != project {
				continue
			}
			l := Location{Name: v.Name, Key: v.Labels[labels.Volume], Host: host, Driver: v.Driver, Size: -1}
			if v.UsageData != nil {
				l.Size = v.UsageData.Size
			}
			d.All = append(d.All, l)
			if l.Key != "" && !slices.Contains(hostsOf[l.Key], host) {
				hostsOf[l.Key] = append(hostsOf[l.Key], host)
			}
		}
	}
	sort.Slice(d.All, func(i, j int) bool {
		if d.All[i].Name != d.All[j].Name {
			return d.All[i].Name < d.All[j].Name
		}
		return d.All[i].Host < d.All[j].Host
	})
	for key, hs := range hostsOf {
		sort.Strings(hs)
		d.Host[key] = hs[0]
		if len(hs) > 1 {
			d.Split[key] = hs
		}
	}
	return d
}

// UsageAPI is the part of the Docker client that knows volume sizes.
type UsageAPI interface {
	DiskUsage(ctx context.Context, options types.DiskUsageOptions) (types.DiskUsage, error)
}

// Usage returns the project's volumes on a host with the size of their
// data, for Where. It asks the daemon to measure every volume: slow on a
// host with much data, so only `volume ls` uses it.
func Usage(ctx context.Context, api UsageAPI, project string) ([]*volume.Volume, error) {
	du, err := api.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.VolumeObject}})
	if err != nil {
		return nil, err
	}
	var out []*volume.Volume
	for _, v := range du.Volumes {
		if v.Labels[labels.Project] == project {
			out = append(out, v)
		}
	}
	return out, nil
}
