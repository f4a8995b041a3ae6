package watch

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// editorTemp reports names editors write and rename or delete during a
// save: swap files, backups, lock files, safe-write temporaries.
func editorTemp(base string) bool {
	switch {
	case base == "4913", // vim's write-permission probe
		strings.HasSuffix(base, "~"),
		strings.HasSuffix(base, ".swp"), strings.HasSuffix(base, ".swx"), strings.HasSuffix(base, ".swo"),
		strings.HasPrefix(base, ".#"),
		strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		strings.HasSuffix(base, ".tmp"), strings.Contains(base, ".tmp."),
		strings.HasSuffix(base, "___jb_tmp___"), strings.HasSuffix(base, "___jb_old___"),
		strings.HasSuffix(base, ".crswap"), strings.HasPrefix(base, ".goutputstream-"),
		strings.HasSuffix(base, ".kate-swp"), strings.HasSuffix(base, ".part"):
		return true
	}
	return false
}

// Matcher decides which paths of one watch rule matter.
type Matcher struct {
	root    string // the rule's path
	ignore  *patternmatcher.PatternMatcher
	include *patternmatcher.PatternMatcher
	// docker holds .dockerignore patterns, relative to dockerRoot.
	docker     *patternmatcher.PatternMatcher
	dockerRoot string
}

// NewMatcher builds the ignore rules for a watch rule rooted at root:
// its ignore and include patterns (relative to root) and, when the rule
// watches inside a build context, that context's ignore file.
func NewMatcher(root string, ignore, include []string, buildContext, dockerfile string) (*Matcher, error) {
	m := &Matcher{root: root}
	var err error
	if len(ignore) > 0 {
		if m.ignore, err = patternmatcher.New(ignore); err != nil {
			return nil, err
		}
	}
	if len(include) > 0 {
		if m.include, err = patternmatcher.New(include); err != nil {
			return nil, err
		}
	}
	if buildContext != "" {
		pats, err := dockerIgnore(buildContext, dockerfile)
		if err != nil {
			return nil, err
		}
		if len(pats) > 0 {
			if m.docker, err = patternmatcher.New(pats); err != nil {
				return nil, err
			}
			m.dockerRoot = buildContext
		}
	}
	return m, nil
}

func dockerIgnore(ctxDir, dockerfile string) ([]string, error) {
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(ctxDir, dockerfile)
	}
	for _, f := range []string{dockerfile + ".dockerignore", filepath.Join(ctxDir, ".dockerignore")} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		pats, err := ignorefile.ReadAll(fh)
		fh.Close()
		return pats, err
	}
	return nil, nil
}

// Ignored reports whether path (absolute) is ignored by the rule.
func (m *Matcher) Ignored(path string, dir bool) bool {
	base := filepath.Base(path)
	if base == ".git" || strings.Contains(path, string(filepath.Separator)+".git"+string(filepath.Separator)) {
		return true
	}
	if !dir && editorTemp(base) {
		return true
	}
	rel, err := filepath.Rel(m.root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = ""
	}
	rel = filepath.ToSlash(rel)
	if rel != "" && rel != "." {
		if m.ignore != nil {
			if ok, _ := m.ignore.MatchesOrParentMatches(rel); ok {
				return true
			}
		}
		if m.include != nil && !dir {
			if ok, _ := m.include.MatchesOrParentMatches(rel); !ok {
				return true
			}
		}
	}
	if m.docker != nil {
		if drel, err := filepath.Rel(m.dockerRoot, path); err == nil && !strings.HasPrefix(drel, "..") && drel != "." {
			if ok, _ := m.docker.MatchesOrParentMatches(filepath.ToSlash(drel)); ok {
				return true
			}
		}
	}
	return false
}
