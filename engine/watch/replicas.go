package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/spec"
)

// API is what hot reload needs of a Docker client in a running container:
// copy a tar stream in, and run rm and a rule's exec hook.
// client.APIClient satisfies it.
type API interface {
	ctr.CopyToAPI
	ctr.ExecAPI
}

// Replica is one running container of a rule's service, on its host.
type Replica struct {
	API  API
	ID   string
	Name string
}

// SyncInto copies the rule's changes into every replica in one tar stream,
// and deletes deleted ones with rm. warn reports an image without rm, once
// per service that warned does not hold yet; its deleted files stay.
func SyncInto(ctx context.Context, replicas []Replica, r Rule, changes []Change, warned *sync.Map, warn func(format string, args ...any)) error {
	if len(replicas) == 0 {
		return fmt.Errorf("service %q has no running container to sync into", r.Service)
	}
	sy, err := PackSync(r, changes)
	if err != nil {
		return err
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if sy.Files > 0 {
				err = ctr.CopyTo(ctx, c.API, c.ID, "/", bytes.NewReader(sy.Tar))
			}
			if err == nil && len(sy.Deletes) > 0 {
				err = removeIn(ctx, c, r.Service, sy.Deletes, warned, warn)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("sync into %s: %w", c.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removeIn deletes paths in a container with its rm, as compose does; an
// image without rm gets one clear warning.
func removeIn(ctx context.Context, c Replica, service string, paths []string, warned *sync.Map, warn func(format string, args ...any)) error {
	code, err := ctr.Exec(ctx, c.API, c.ID, ctr.ExecRequest{Cmd: append([]string{"rm", "-rf"}, paths...)})
	if err != nil || code == 126 || code == 127 {
		if _, seen := warned.LoadOrStore(service, true); !seen {
			warn("service %q: cannot delete synced files: the image has no rm (%v); deleted files stay in the container until it is recreated", service, errOrCode(err, code))
		}
		return nil
	}
	if code != 0 {
		return fmt.Errorf("rm in %s exited %d", c.Name, code)
	}
	return nil
}

func errOrCode(err error, code int) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exit %d", code)
}

// ExecHook runs a sync+exec rule's command in every replica, one after
// the other; a replica where it fails or exits non-zero is an error (with
// the command's output), and the others still run it.
func ExecHook(ctx context.Context, replicas []Replica, h types.ServiceHook) error {
	var errs []error
	for _, c := range replicas {
		var out bytes.Buffer
		code, err := ctr.Exec(ctx, c.API, c.ID, ctr.ExecRequest{
			Cmd: h.Command, User: h.User, Privileged: h.Privileged, Env: spec.Env(h.Environment),
			Streams: ctr.Streams{Out: &out, Err: &out},
		})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("exec in %s: %w", c.Name, err))
		case code != 0:
			errs = append(errs, fmt.Errorf("exec %v in %s exited %d: %s", []string(h.Command), c.Name, code, strings.TrimSpace(out.String())))
		}
	}
	return errors.Join(errs...)
}

// InitialChanges is every file under the rule's path that is not ignored,
// as changes for an initial sync.
func InitialChanges(r Rule) ([]Change, error) {
	var changes []Change
	err := filepath.WalkDir(r.Trigger.Path, func(pth string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if pth != r.Trigger.Path && r.Matcher.Ignored(pth, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			changes = append(changes, Change{Path: pth})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}
