package stack

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/devorch/devorch/internal/labels"
)

// String is the plan as `devorch --target swarm --dry-run up` prints it:
// the Swarm, then per service what up would do, how many tasks, the image
// and the placement, then the networks, notes and warnings.
func (pl *Plan) String() string {
	var b strings.Builder
	var nodes []string
	for _, n := range pl.Nodes {
		role := n.Role
		if n.Availability != "" && n.Availability != "active" {
			role += ", " + n.Availability
		}
		if n.Host == "" {
			role += ", no devorch host: no tasks"
		}
		nodes = append(nodes, fmt.Sprintf("%s (%s)", n.Name(), role))
	}
	fmt.Fprintf(&b, "SWARM managed by host %s; nodes: %s\n\n", pl.Manager, strings.Join(nodes, ", "))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tACTION\tMODE\tIMAGE\tPLACEMENT")
	for _, name := range slices.Sorted(maps.Keys(pl.Services)) {
		spec := pl.Services[name]
		mode := "replicated 1"
		switch {
		case spec.Mode.Global != nil:
			mode = "global"
		case spec.Mode.Replicated != nil && spec.Mode.Replicated.Replicas != nil:
			mode = fmt.Sprintf("replicated %d", *spec.Mode.Replicated.Replicas)
		case spec.Mode.ReplicatedJob != nil:
			mode = "replicated job"
		case spec.Mode.GlobalJob != nil:
			mode = "global job"
		}
		img := spec.Labels[labels.ImageTag]
		if ref := spec.TaskTemplate.ContainerSpec.Image; ref != "" {
			img += " (" + shortRef(ref) + ")"
		}
		var place []string
		if p := spec.TaskTemplate.Placement; p != nil {
			place = append(place, p.Constraints...)
			if p.MaxReplicas > 0 {
				place = append(place, fmt.Sprintf("max %d per node", p.MaxReplicas))
			}
		}
		where := strings.Join(place, ", ")
		if where == "" {
			where = "any node"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, strings.ToLower(pl.Actions[name]), mode, img, where)
	}
	for _, o := range pl.Orphans {
		fmt.Fprintf(tw, "%s\torphan\t\t\t(--remove-orphans removes it)\n", o.Spec.Labels[labels.Service])
	}
	tw.Flush()
	if len(pl.Networks) > 0 {
		b.WriteString("\nNETWORKS\n")
		for _, key := range slices.Sorted(maps.Keys(pl.Networks)) {
			n := pl.Networks[key]
			what := "overlay, exists"
			switch {
			case n.External:
				what = "external"
			case n.Created:
				what = "overlay, created"
			}
			fmt.Fprintf(&b, "  %s: %s (%s)\n", key, n.Name, what)
		}
	}
	if len(pl.Notes) > 0 {
		b.WriteString("\nPLACEMENT NOTES\n")
		for _, n := range pl.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	if len(pl.Warnings) > 0 {
		b.WriteString("\nWARNINGS\n")
		for _, w := range pl.Warnings {
			fmt.Fprintf(&b, "  %s\n", w)
		}
	}
	return b.String()
}

// shortRef is an image ID as docker images shows it; other references as
// they are.
func shortRef(ref string) string {
	if id, ok := strings.CutPrefix(ref, "sha256:"); ok && len(id) > 12 {
		return id[:12]
	}
	return ref
}
