package netctl

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLanesTakeOneNetworkLeaveAtATime(t *testing.T) {
	var l Lanes
	bg := context.Background()
	done, cancel := context.WithCancel(bg)
	cancel()

	leave, err := l.Enter(bg, "h1", []string{"p_default", "p_back"})
	if err != nil {
		t.Fatal(err)
	}
	// Held: another container on either network must wait (a done context
	// shows it would have).
	for _, nets := range [][]string{{"p_default"}, {"p_back", "p_other"}} {
		if _, err := l.Enter(done, "h1", nets); !errors.Is(err, context.Canceled) {
			t.Errorf("Enter %v while held: %v, want it to wait", nets, err)
		}
	}
	// Other networks, and the same name on another host, are free.
	for _, in := range []struct {
		host string
		nets []string
	}{{"h1", []string{"p_other"}}, {"h2", []string{"p_default"}}, {"h1", nil}} {
		lv, err := l.Enter(done, in.host, in.nets)
		if err != nil {
			t.Errorf("Enter %s %v: %v, want it free", in.host, in.nets, err)
			continue
		}
		lv()
	}
	// A waiting Enter that gave up holds nothing: p_other is free.
	lv, err := l.Enter(done, "h1", []string{"p_other"})
	if err != nil {
		t.Fatalf("p_other after an abandoned wait: %v", err)
	}
	lv()

	leave()
	leave() // twice is harmless
	lv, err = l.Enter(done, "h1", []string{"p_default", "p_back"})
	if err != nil {
		t.Fatalf("after leave: %v", err)
	}
	// Not let go: after LaneGrace the next may go anyway.
	_ = lv
	ctx, cancel2 := context.WithTimeout(bg, time.Minute)
	defer cancel2()
	lv2, err := l.Enter(ctx, "h1", []string{"p_default"})
	if err != nil {
		t.Fatalf("a lane held past LaneGrace was not let go: %v", err)
	}
	lv2()
	lv() // after the grace release: must not free the lane twice
	if lv3, err := l.Enter(done, "h1", []string{"p_back"}); err != nil {
		t.Fatalf("p_back: %v", err)
	} else {
		lv3()
	}
}
