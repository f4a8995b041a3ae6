package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/devorch/devorch/compose"
)

// PushAPI is what Push asks of the daemon that holds the image.
type PushAPI interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageTag(ctx context.Context, source, target string) error
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
}

// RegistryRef is the name ref gets in registry r: r followed by the
// image's path and tag ("devorch-test/app" in "10.0.0.1:5000" is
// "10.0.0.1:5000/devorch-test/app:latest"). An image already named in r
// keeps its name.
func RegistryRef(ref, r string) (string, error) {
	if err := compose.CheckRegistry(r); err != nil {
		return "", err
	}
	r = strings.TrimSuffix(r, "/")
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	reg, _ := reference.ParseNormalizedNamed(r + "/probe")
	prefix := strings.TrimSuffix(reg.Name(), "probe")
	if strings.HasPrefix(named.Name(), prefix) {
		return named.Name() + ":" + tag, nil
	}
	path := reference.Path(named)
	if reference.Domain(named) == "docker.io" {
		path = strings.TrimPrefix(path, "library/")
	}
	return prefix + path + ":" + tag, nil
}

// Push tags ref (present on host h) with its name in registry r, pushes
// it, and returns the name by digest ("r/path@sha256:…"), which every
// node pulls unchanged: no tag is resolved again. The tag stays, as
// docker compose push leaves it: it says what was pushed, and its digest
// (in the image's RepoDigests) is what PushedRef finds.
func Push(ctx context.Context, h string, api PushAPI, ref, r string, sink Sink) (string, error) {
	target, err := RegistryRef(ref, r)
	if err != nil {
		return "", err
	}
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", target, err)
	}
	domain := reference.Domain(named)
	auth, err := registryAuth(domain)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", target, err)
	}
	if auth == "" {
		// An empty X-Registry-Auth makes older daemons (API 1.41) read
		// the credentials from the body, and fail on an empty one.
		auth = base64.URLEncoding.EncodeToString([]byte("{}"))
	}
	if err := api.ImageTag(ctx, ref, target); err != nil {
		return "", fmt.Errorf("tag %s as %s on host %q: %w", ref, target, h, err)
	}
	sink.send(Event{Ref: ref, Host: h, Status: "Pushing", Detail: "to " + target})
	rc, err := api.ImagePush(ctx, target, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("push %s from host %q: %w%s", target, h, err, loginHint(auth, domain, err.Error()))
	}
	defer rc.Close()
	var digest string
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("push %s from host %q: %w", target, h, err)
		}
		if m.Error != nil {
			return "", fmt.Errorf("push %s from host %q: %s%s", target, h, m.Error.Message, loginHint(auth, domain, m.Error.Message))
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
	}
	if digest == "" {
		return "", fmt.Errorf("push %s from host %q: the daemon named no digest", target, h)
	}
	sink.send(Event{Ref: ref, Host: h, Status: "Pushed", Detail: digest})
	return named.Name() + "@" + digest, nil
}

// PushedRef is the name by digest under which ref's image is already in
// registry r, as the image's RepoDigests record it on host h, or "" when
// it was not pushed there (for a dry run).
func PushedRef(ctx context.Context, api PushAPI, ref, r string) (string, error) {
	target, err := RegistryRef(ref, r)
	if err != nil {
		return "", err
	}
	named, _ := reference.ParseNormalizedNamed(target)
	ii, err := api.ImageInspect(ctx, ref)
	if err != nil {
		return "", nil
	}
	for _, d := range ii.RepoDigests {
		if name, _, ok := strings.Cut(d, "@"); ok && name == named.Name() {
			return d, nil
		}
	}
	return "", nil
}

// RegistryAuth is the X-Registry-Auth for registry r from the Docker
// CLI's credentials, "" when the user has none for it: what the Swarm's
// nodes pull with.
func RegistryAuth(r string) (string, error) {
	if err := compose.CheckRegistry(r); err != nil {
		return "", err
	}
	named, _ := reference.ParseNormalizedNamed(strings.TrimSuffix(r, "/") + "/probe")
	return registryAuth(reference.Domain(named))
}
