package images

import (
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// imageKey identifies an image on a host.
type imageKey struct{ host, ref string }

// imageWant is one service's image and the hosts its containers need it on.
type imageWant struct {
	service string
	svc     types.ServiceConfig
	ref     string
	hosts   []string
}

// imageJob is one image to make present on one host.
type imageJob struct {
	svc  types.ServiceConfig
	ref  string
	host string
	from string // copies only: the host that has the image, or builds it first
}

// imagePlan is what Ensure does: builds and pulls, then copies (which
// may copy what was just built), and the IDs of images already present that
// are used as they are (service → host → ID).
type imagePlan struct {
	builds, pulls, copies []imageJob
	use                   map[string]map[string]string
}

// imageAction is what one host needs done about one service's image.
type imageAction int

const (
	useImage     imageAction = iota // present: use it as it is
	buildImage                      // missing: copy it from a host that has it or builds it, else build it
	rebuildImage                    // forced build: copy it from the host that builds it in this run, else build it
	pullImage                       // pull it, present or not
	fetchImage                      // missing: copy it from a host that has it, else pull it
)

// decideImage says what host needs done about w's image, given whether the
// image is there and the pull policy in force. A service with a build
// section is built, never pulled.
func decideImage(w imageWant, host, policy string, present bool, o Options) (imageAction, error) {
	forced := o.Build || policy == types.PullPolicyBuild
	switch {
	case w.svc.Build != nil && o.NoBuild:
		if !present {
			return 0, fmt.Errorf("service %q: image %s is not on host %q and --no-build forbids building it", w.service, w.ref, host)
		}
		return useImage, nil
	case w.svc.Build != nil && forced:
		return rebuildImage, nil
	case w.svc.Build != nil && !present:
		return buildImage, nil
	case w.svc.Build != nil:
		return useImage, nil
	case policy == types.PullPolicyAlways:
		return pullImage, nil
	case present:
		return useImage, nil
	case policy == types.PullPolicyNever:
		return 0, fmt.Errorf("service %q: image %s is not on host %q and pull_policy is never", w.service, w.ref, host)
	case policy == types.PullPolicyBuild:
		return 0, fmt.Errorf("service %q: pull_policy is build but the service has no build section", w.service)
	}
	return fetchImage, nil
}

// pullPolicy is the policy in force for w: --pull, else the service's own.
// A service's policy that does not parse is an error even under --pull.
func pullPolicy(w imageWant, o Options) (string, error) {
	policy, _, err := w.svc.GetPullPolicy()
	if err != nil {
		return "", fmt.Errorf("service %q: %w", w.service, err)
	}
	if o.Pull != "" {
		policy = o.Pull
	}
	return policy, nil
}

// planImages decides, for each wanted image and host in order, whether to
// use what is there, build, pull or copy from another host. present holds
// the IDs of the images found, keyed by host and reference; pool lists
// every host name in the order they are preferred as a source to copy
// from. Each image is made at most once per host and built on one host
// only; the first error, in the order of wants, stops the plan.
func planImages(wants []imageWant, present map[imageKey]string, pool []string, o Options) (imagePlan, error) {
	pl := imagePlan{use: map[string]map[string]string{}}
	planned := map[imageKey]bool{}
	builtOn := map[string]string{} // ref → the one host that builds it
	for _, w := range wants {
		policy, err := pullPolicy(w, o)
		if err != nil {
			return imagePlan{}, err
		}
		for _, h := range w.hosts {
			k := imageKey{h, w.ref}
			id, ok := present[k]
			act, err := decideImage(w, h, policy, ok, o)
			if err != nil {
				return imagePlan{}, err
			}
			if act == useImage {
				setImageID(pl.use, w.service, h, id)
				continue
			}
			if planned[k] {
				continue
			}
			planned[k] = true
			pl.add(act, imageJob{svc: w.svc, ref: w.ref, host: h}, holder(present, pool, w.ref, h), builtOn)
		}
	}
	return pl, nil
}

// add schedules one image for one host. holds is another host that has
// the image already ("" if none); builtOn says which host builds each
// image in this run, so that an image is built once and copied elsewhere.
func (pl *imagePlan) add(act imageAction, j imageJob, holds string, builtOn map[string]string) {
	switch act {
	case pullImage:
		pl.pulls = append(pl.pulls, j)
	case fetchImage:
		if j.from = holds; j.from != "" {
			pl.copies = append(pl.copies, j)
			return
		}
		pl.pulls = append(pl.pulls, j)
	case buildImage, rebuildImage:
		if act == buildImage {
			j.from = holds
		}
		if j.from == "" {
			j.from = builtOn[j.ref]
		}
		if j.from != "" {
			pl.copies = append(pl.copies, j)
			return
		}
		builtOn[j.ref] = j.host
		pl.builds = append(pl.builds, j)
	}
}

// holder returns the first host of pool other than not that has ref, or "".
func holder(present map[imageKey]string, pool []string, ref, not string) string {
	for _, h := range pool {
		if h == not {
			continue
		}
		if _, ok := present[imageKey{h, ref}]; ok {
			return h
		}
	}
	return ""
}

// resolveImageIDs is the image ID each service's containers get on each
// host: the image made in this run, else the one that was there.
func resolveImageIDs(wants []imageWant, use map[string]map[string]string, made map[imageKey]string) map[string]map[string]string {
	ids := map[string]map[string]string{}
	for svc, byHost := range use {
		for h, id := range byHost {
			setImageID(ids, svc, h, id)
		}
	}
	for _, w := range wants {
		for _, h := range w.hosts {
			if id, ok := made[imageKey{h, w.ref}]; ok {
				setImageID(ids, w.service, h, id)
			}
		}
	}
	return ids
}

func setImageID(ids map[string]map[string]string, svc, host, id string) {
	if ids[svc] == nil {
		ids[svc] = map[string]string{}
	}
	ids[svc][host] = id
}
