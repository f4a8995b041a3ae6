package compose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devorch/devorch/internal/errtext"
)

// AlertRule is one threshold rule from x-devorch: {alerts: {cpu: "90%/30s"}}:
// percent of the service's limit (or of the host when it has none) held
// for the duration.
type AlertRule struct {
	Kind    string // cpu or memory
	Percent float64
	Hold    time.Duration
}

// ParseAlerts parses a service's alert rules, sorted by kind. Load and
// Validate refuse a bad rule, so the monitor never meets one.
func ParseAlerts(raw map[string]string) ([]AlertRule, error) {
	kinds := make([]string, 0, len(raw))
	for k := range raw {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []AlertRule
	for _, kind := range kinds {
		v := raw[kind]
		where := ExtensionKey + ".alerts." + kind
		if kind != "cpu" && kind != "memory" {
			return nil, fmt.Errorf("%s: only cpu and memory rules exist", ExtensionKey+".alerts."+errtext.Quote(kind))
		}
		pct, hold, ok := strings.Cut(v, "/")
		if !ok || !strings.HasSuffix(pct, "%") {
			return nil, fmt.Errorf("%s: %s is not PERCENT%%/DURATION (e.g. \"90%%/30s\")", where, errtext.Quote(v))
		}
		p, err := strconv.ParseFloat(strings.TrimSuffix(pct, "%"), 64)
		// The percent is of a limit or of the host: more than 100 can never
		// be reached, 0 or less always is.
		if err != nil || !(p > 0 && p <= 100) {
			return nil, fmt.Errorf("%s: percent %s is not a number above 0 and at most 100", where, errtext.Quote(pct))
		}
		d, err := time.ParseDuration(hold)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: %s is not a duration such as 30s or 2m", where, errtext.Quote(hold))
		}
		out = append(out, AlertRule{Kind: kind, Percent: p, Hold: d})
	}
	return out, nil
}
