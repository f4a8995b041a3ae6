package engine

import (
	"context"
	"time"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/spec"
)

// copyInlineFiles writes inline secrets and configs into a created
// container, in one tar stream (spec.InlineArchive).
func copyInlineFiles(ctx context.Context, h *hosts.Host, id string, files []spec.InlineFile) error {
	if len(files) == 0 {
		return nil
	}
	tar, err := spec.InlineArchive(files, time.Now())
	if err != nil {
		return err
	}
	return ctr.CopyTo(ctx, h.Client, id, "/", tar)
}
