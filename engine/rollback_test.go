package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/engine/hosts"
)

// Only what says something about the configuration is a refusal: an
// interruption, a lost connection or a host that stopped answering is not
// rolled back.
func TestRefusalClassification(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"daemon refused", errdefs.InvalidParameter(errors.New("invalid CapAdd")), true},
		{"runtime failed at start", errdefs.System(errors.New("OCI runtime create failed")), true},
		{"client refused before the call", errors.New(`"specify health-check start interval" requires API version 1.44`), true},
		{"wrapped twice", fmt.Errorf("service %q: %w", "a", refusal(errors.New("x"))), true},
		{"interrupted", fmt.Errorf("create: %w", context.Canceled), false},
		{"timed out", context.DeadlineExceeded, false},
		{"host lost", fmt.Errorf("host %q: %w", "h", hosts.ErrHostLost), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := isRefusal(refusal(c.err)); got != c.want {
				t.Errorf("isRefusal(refusal(%v)) = %v, want %v", c.err, got, c.want)
			}
		})
	}
	if refusal(nil) != nil {
		t.Error("refusal(nil) is not nil")
	}
}

// A refusal cancels the rest of its run: the others' cancellations are not
// reported (the exit code would say "interrupted"), unless the run itself
// was interrupted.
func TestConvergeErrors(t *testing.T) {
	refused := refusal(errors.New("start container x: no such file"))
	cancelled := fmt.Errorf("service b: %w", context.Canceled)
	err := convergeErrors(context.Background(), []error{cancelled, refused})
	if !isRefusal(err) || errors.Is(err, context.Canceled) {
		t.Errorf("refusal among cancellations: %v", err)
	}
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	if err := convergeErrors(interrupted, []error{cancelled, refused}); !errors.Is(err, context.Canceled) {
		t.Errorf("an interrupted run lost its interruption: %v", err)
	}
	other := errors.New("container a is unhealthy")
	if err := convergeErrors(context.Background(), []error{other, cancelled}); !errors.Is(err, other) || !errors.Is(err, context.Canceled) {
		t.Errorf("without a refusal every error is kept: %v", err)
	}
}
