package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/compose-spec/compose-go/v2/types"
)

// Hash is a service's config hash: the JSON of its configuration minus the
// fields that must not force a recreate (how the image is built or pulled,
// how many replicas, start order, profiles, watch rules), as docker compose
// does. It is stored on each container as dev.devorch.config-hash; a changed
// hash means the container is recreated. Where the service runs (the host)
// is never part of it.
func Hash(s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
		// Adding deploy: {replicas: N} alone must not recreate anything.
		if b, err := json.Marshal(d); err == nil {
			if v := string(b); v == `{"resources":{},"placement":{}}` || v == "{}" {
				s.Deploy = nil
			}
		}
	}
	s.DependsOn = nil
	s.Profiles = nil
	s.Develop = nil
	s.Attach = nil
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
