package schedule

import (
	"errors"
	"strconv"
	"strings"
)

type constraintKind uint8

const (
	byHostname constraintKind = iota
	byLabel
	byOS
	byArch
)

// constraint is one parsed deploy.placement.constraints entry. Values
// compare case-insensitively, as SwarmKit does; a missing label fails "=="
// and satisfies "!=".
type constraint struct {
	text  string // normalised: "node.labels.zone==eu"
	kind  constraintKind
	label string
	eq    bool
	value string
	pass  []bool // per host index: precomputed once per request
}

var errNoOperator = errors.New("want KEY==VALUE or KEY!=VALUE")

func parseConstraint(s string) (*constraint, error) {
	if strings.Count(s, "==")+strings.Count(s, "!=") != 1 {
		return nil, errNoOperator
	}
	op := "=="
	i := strings.Index(s, "==")
	if i < 0 {
		op, i = "!=", strings.Index(s, "!=")
	}
	key, val := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+2:])
	if key == "" || val == "" {
		return nil, errNoOperator
	}
	c := &constraint{eq: op == "==", value: val}
	lk := strings.ToLower(key)
	switch {
	case lk == "node.hostname":
		c.kind, key = byHostname, lk
	case lk == "node.platform.os":
		c.kind, key = byOS, lk
	case lk == "node.platform.arch":
		c.kind, key = byArch, lk
	case strings.HasPrefix(lk, "node.labels.") && len(key) > len("node.labels."):
		c.kind, c.label = byLabel, key[len("node.labels."):]
		key = "node.labels." + c.label
	default:
		return nil, errors.New("unsupported key " + strconv.Quote(key) +
			" (want node.hostname, node.labels.<label>, node.platform.os or node.platform.arch)")
	}
	c.text = key + op + val
	return c, nil
}

// actual is what the host has for the constraint's key, and whether it has it.
func (c *constraint) actual(n *node) (string, bool) {
	switch c.kind {
	case byHostname:
		return n.name, true
	case byOS:
		return n.os, n.os != ""
	case byArch:
		return n.arch, n.arch != ""
	}
	v, ok := n.labels[c.label]
	return v, ok
}

func (c *constraint) match(n *node) bool {
	v, ok := c.actual(n)
	var same bool
	if ok {
		if c.kind == byArch {
			same = normArch(c.value) == v
		} else {
			same = strings.EqualFold(c.value, v)
		}
	}
	return same == c.eq
}

// explain says why the constraint refuses host n:
// "constraint node.labels.zone==eu not met (zone=us)".
func (c *constraint) explain(n *node) string {
	v, ok := c.actual(n)
	var have string
	switch {
	case c.kind == byLabel && !ok:
		have = "no label " + c.label
	case c.kind == byLabel:
		have = c.label + "=" + v
	case c.kind == byHostname:
		have = "hostname=" + v
	case c.kind == byOS && !ok:
		have = "os unknown"
	case c.kind == byOS:
		have = "os=" + v
	case !ok:
		have = "arch unknown"
	default:
		have = "arch=" + v
	}
	return "constraint " + c.text + " not met (" + have + ")"
}
