package watch

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
)

// Rule is one develop.watch trigger of one service, with its matcher.
type Rule struct {
	Service string
	Trigger types.Trigger
	Matcher *Matcher
}

// Rules turns the services' develop.watch sections into rules, services
// in name order and each service's triggers in file order (a change goes
// to a service's first rule that covers it). No services means all.
func Rules(p *types.Project, services []string) ([]Rule, error) {
	if err := compose.CheckServices(p, services); err != nil {
		return nil, err
	}
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	sort.Strings(services)
	var out []Rule
	for _, name := range services {
		s := p.Services[name]
		if s.Develop == nil {
			continue
		}
		for _, t := range s.Develop.Watch {
			if t.Action == types.WatchActionRebuild && s.Build == nil {
				return nil, fmt.Errorf("service %q: develop.watch action rebuild needs a build section", name)
			}
			ctxDir, dockerfile := "", ""
			if s.Build != nil {
				ctxDir, dockerfile = s.Build.Context, s.Build.Dockerfile
				// The context's ignore file counts only for a rule
				// that watches inside the context.
				if ctxDir != "" && !within(ctxDir, t.Path) {
					ctxDir = ""
				}
			}
			m, err := NewMatcher(t.Path, t.Ignore, t.Include, ctxDir, dockerfile)
			if err != nil {
				return nil, fmt.Errorf("service %q: develop.watch %s: %w", name, t.Path, err)
			}
			out = append(out, Rule{Service: name, Trigger: t, Matcher: m})
		}
	}
	return out, nil
}

// Covers reports whether the rule acts on path: it is under the rule's
// path and not ignored.
func (r Rule) Covers(path string, dir bool) bool {
	return within(r.Trigger.Path, path) && !r.Matcher.Ignored(path, dir)
}

// Ignore is the watcher's Options.Ignore for rules: a path matters when
// a rule covers it or keep names it (the compose files and .env, whose
// directory may sit above every rule). Directories above a rule's path
// are walked only to reach it.
func Ignore(rules []Rule, keep map[string]bool) func(path string, dir bool) bool {
	return func(pth string, dir bool) bool {
		if keep[pth] {
			return false
		}
		for _, r := range rules {
			if r.Covers(pth, dir) {
				return false
			}
		}
		return !dir || !anyRuleBelow(rules, pth)
	}
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

func anyRuleBelow(rules []Rule, dir string) bool {
	for _, r := range rules {
		if within(dir, r.Trigger.Path) || within(r.Trigger.Path, dir) {
			return true
		}
	}
	return false
}
