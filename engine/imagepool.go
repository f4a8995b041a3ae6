package engine

import (
	"context"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/images"
)

// ImageRef is the image a service's containers run: its image: field, or
// <project>-<service> for a service that is only built (images.Ref).
func ImageRef(p *compose.Project, s types.ServiceConfig) string {
	return images.Ref(p, s)
}

// ensureImages makes every needed image present on the host that needs it
// before any container is created (images.Ensure), and returns the image
// ID per service and host.
func (e *Engine) ensureImages(ctx context.Context, p *compose.Project, need map[string][]*hosts.Host, o ImageOptions) (map[string]map[string]string, error) {
	on := make(map[string][]images.Host, len(need))
	for service, hs := range need {
		on[service] = imageHosts(hs)
	}
	return images.Ensure(ctx, images.Pool{Hosts: imageHosts(e.Pool.Hosts), Sink: e.imageEvent}, p, on, o)
}

// imageHosts hands package images the hosts it is to work on.
func imageHosts(hs []*hosts.Host) []images.Host {
	out := make([]images.Host, len(hs))
	for i, h := range hs {
		out[i] = imageHost(h)
	}
	return out
}

// imageHost is h as package images sees it. A host is alive for it when it
// answered in the last 10 seconds: with several hosts, images are looked
// for on every such host, to copy rather than make again.
func imageHost(h *hosts.Host) images.Host {
	return images.Host{Name: h.Name, API: h.Client, Alive: func() error {
		_, err := h.Info(context.Background(), 10*time.Second)
		return err
	}}
}

// imageEvent reports what package images did as the engine's events.
func (e *Engine) imageEvent(ev images.Event) {
	switch {
	case ev.Warning != "":
		e.warn("%s", ev.Warning)
	case ev.Line != "":
		e.emit(Event{Kind: KindLog, Resource: ResImage, Name: ev.Ref, Host: ev.Host, Service: ev.Service, Stream: "build", Line: ev.Line})
	default:
		e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: ev.Ref, Host: ev.Host, Service: ev.Service, Status: ev.Status, Detail: ev.Detail})
	}
}
