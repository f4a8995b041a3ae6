package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/devorch/devorch/internal/errtext"
)

// loadError is a compose-go error reworded: on one line, with compose's
// wording where compose-go's differs, naming the file. It keeps the
// original in its chain (a missing file stays os.ErrNotExist).
type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }

var (
	// The schema reports an unknown key as a "false schema" at the key.
	falseSchema = regexp.MustCompile(`(\S+)\.([^.\s]+) false schema`)
	// compose-go swaps its arguments in this one.
	containerNameScale = regexp.MustCompile(`services\.(scale|deploy\.replicas): can't set container_name and (\S+) as container name must be unique`)
)

// tidyLoadError rewords err from compose-go (see loadError).
func tidyLoadError(files []string, err error) error {
	msg := err.Error()
	orig := msg
	msg = strings.Replace(msg, "decoding failed due to the following error(s):", "", 1)
	msg = errtext.OneLine(msg)
	msg = falseSchema.ReplaceAllString(msg, "$1: additional properties '$2' not allowed")
	msg = containerNameScale.ReplaceAllString(msg, "services.$2: can't set container_name and $1 as container name must be unique")
	if strings.Contains(msg, "top-level object must be a mapping") {
		if culprit := notComposeFile(files); culprit != "" {
			msg = culprit
		}
	}
	if !namesFile(msg, files) {
		msg = filesText(files) + ": " + msg
	}
	if msg == orig {
		return err
	}
	return &loadError{msg: msg, err: err}
}

// namesFile reports whether msg names one of the files (or some other
// file compose-go read: an included or extended one).
func namesFile(msg string, files []string) bool {
	for _, f := range files {
		if strings.Contains(msg, f) || strings.Contains(msg, relPath(f)) {
			return true
		}
	}
	for _, ext := range []string{".yaml", ".yml", ".env", ".json"} {
		if strings.Contains(msg, ext) {
			return true
		}
	}
	return false
}

// notComposeFile finds the extends.file or include entry of files that is
// not a compose file, for compose-go's "top-level object must be a
// mapping", which names none.
func notComposeFile(files []string) string {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Include  []any                     `yaml:"include"`
			Services map[string]map[string]any `yaml:"services"`
		}
		if yaml.Unmarshal(b, &doc) != nil {
			continue
		}
		type ref struct{ where, path string }
		var refs []ref
		for _, name := range sortedNames(doc.Services) {
			if ext, ok := doc.Services[name]["extends"].(map[string]any); ok {
				if p, ok := ext["file"].(string); ok && p != "" {
					refs = append(refs, ref{fmt.Sprintf("services.%s.extends.file", name), p})
				}
			}
		}
		for i, inc := range doc.Include {
			switch v := inc.(type) {
			case string:
				refs = append(refs, ref{fmt.Sprintf("include[%d]", i), v})
			case map[string]any:
				if ps, ok := v["path"].([]any); ok {
					for _, p := range ps {
						if s, ok := p.(string); ok {
							refs = append(refs, ref{fmt.Sprintf("include[%d].path", i), s})
						}
					}
				} else if s, ok := v["path"].(string); ok {
					refs = append(refs, ref{fmt.Sprintf("include[%d].path", i), s})
				}
			}
		}
		for _, r := range refs {
			p := r.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(f), p)
			}
			content, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var v any
			if err := yaml.Unmarshal(content, &v); err != nil {
				return fmt.Sprintf("%s: %s %s is not a compose file: %s", relPath(f), r.where, relPath(p), errtext.OneLine(err.Error()))
			}
			if _, ok := v.(map[string]any); !ok {
				return fmt.Sprintf("%s: %s %s is not a compose file: its top level is not a mapping", relPath(f), r.where, relPath(p))
			}
		}
	}
	return ""
}

// withFiles prefixes an error about the loaded model with the files it
// came from, keeping the error in the chain.
func withFiles(files []string, err error) error {
	if err == nil || namesFile(err.Error(), files) {
		return err
	}
	return fmt.Errorf("%s: %w", filesText(files), err)
}
