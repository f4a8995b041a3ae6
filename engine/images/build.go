package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-units"
	archive "github.com/moby/go-archive"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
)

// Ref is the image a service's containers run: its image: field, or
// <project>-<service> for a service that is only built, as compose names it.
func Ref(p *compose.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + s.Name
}

// buildKitOnly lists build fields only BuildKit implements.
func buildKitOnly(b *types.BuildConfig) []string {
	var out []string
	if len(b.SSH) > 0 {
		out = append(out, "ssh")
	}
	if len(b.Secrets) > 0 {
		out = append(out, "secrets")
	}
	if len(b.CacheTo) > 0 {
		out = append(out, "cache_to")
	}
	if len(b.AdditionalContexts) > 0 {
		out = append(out, "additional_contexts")
	}
	if len(b.Entitlements) > 0 {
		out = append(out, "entitlements")
	}
	if len(b.Platforms) > 1 {
		out = append(out, "platforms (more than one)")
	}
	if b.Provenance != "" {
		out = append(out, "provenance")
	}
	if b.SBOM != "" {
		out = append(out, "sbom")
	}
	if len(b.NoCacheFilter) > 0 {
		out = append(out, "no_cache_filter")
	}
	if b.Privileged {
		out = append(out, "privileged")
	}
	return out
}

// flagsFirst matches the instruction flags that precede its arguments, so
// that "--mount=" inside a command's own arguments is not mistaken for one.
const flagsFirst = `(?:--[a-z-]+(?:=\S+)?\s+)*`

var buildKitSyntax = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?i)^\s*RUN\s+` + flagsFirst + `--mount=`), "RUN --mount"},
	{regexp.MustCompile(`(?i)^\s*RUN\s+` + flagsFirst + `--network=`), "RUN --network"},
	{regexp.MustCompile(`(?i)^\s*RUN\s+` + flagsFirst + `--security=`), "RUN --security"},
	{regexp.MustCompile(`(?i)^\s*(COPY|ADD)\s+` + flagsFirst + `--link\b`), "COPY --link"},
	{regexp.MustCompile(`(?i)^\s*(COPY|ADD)\s+` + flagsFirst + `--parents\b`), "COPY --parents"},
	{regexp.MustCompile(`(?i)^\s*(COPY|ADD)\s+` + flagsFirst + `--exclude=`), "COPY --exclude"},
	{regexp.MustCompile(`(?i)^\s*(COPY|ADD)\s+` + flagsFirst + `--chmod=`), "COPY --chmod"},
	{regexp.MustCompile(`(?i)^\s*(RUN|COPY)\s+.*<<-?["']?[A-Za-z_]+`), "a heredoc"},
}

// checkDockerfile reports BuildKit-only syntax with file and line: the
// classic builder devorch uses would fail with a less helpful message.
func checkDockerfile(service, path string, content []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(content))
	line, start := 0, 0
	var instr strings.Builder
	for sc.Scan() {
		line++
		text := sc.Text()
		if instr.Len() == 0 {
			start = line
		}
		// Join continuation lines into one instruction.
		if strings.HasSuffix(strings.TrimRight(text, " \t"), "\\") {
			instr.WriteString(strings.TrimSuffix(strings.TrimRight(text, " \t"), "\\") + " ")
			continue
		}
		instr.WriteString(text)
		full := instr.String()
		instr.Reset()
		for _, k := range buildKitSyntax {
			if k.re.MatchString(full) {
				return fmt.Errorf("service %q: %s:%d uses %s, which needs BuildKit; devorch builds through the Docker API's classic builder", service, path, start, k.what)
			}
		}
	}
	return nil
}

// buildContext tars the service's build context, honouring
// <Dockerfile>.dockerignore or .dockerignore, and returns the Dockerfile
// name to pass to the daemon.
func buildContext(s types.ServiceConfig, imageLabels map[string]string) (io.ReadCloser, string, error) {
	b := s.Build
	ctxDir := b.Context
	if ctxDir == "" {
		ctxDir = "."
	}
	if strings.Contains(ctxDir, "://") || strings.HasPrefix(ctxDir, "git@") {
		return nil, "", fmt.Errorf("service %q: remote build context %q is not supported by devorch", s.Name, ctxDir)
	}
	fi, err := os.Stat(ctxDir)
	if err != nil {
		return nil, "", fmt.Errorf("service %q: build context: %w", s.Name, err)
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("service %q: build context %s is not a directory", s.Name, ctxDir)
	}
	var dfContent []byte
	dfName := b.Dockerfile
	if dfName == "" {
		dfName = "Dockerfile"
	}
	dfPath := dfName
	if !filepath.IsAbs(dfPath) {
		dfPath = filepath.Join(ctxDir, dfName)
	}
	if b.DockerfileInline != "" {
		dfContent = []byte(b.DockerfileInline)
		dfPath = "(dockerfile_inline)"
	} else {
		dfContent, err = os.ReadFile(dfPath)
		if err != nil {
			return nil, "", fmt.Errorf("service %q: read Dockerfile: %w", s.Name, err)
		}
	}
	if err := checkDockerfile(s.Name, dfPath, dfContent); err != nil {
		return nil, "", err
	}
	ignoreDf := dfPath
	if b.DockerfileInline != "" {
		ignoreDf = "" // no file, so no <Dockerfile>.dockerignore either
	}
	excludes, err := ignorePatterns(ctxDir, ignoreDf)
	if err != nil {
		return nil, "", fmt.Errorf("service %q: %w", s.Name, err)
	}
	// The daemon gets the Dockerfile under a generated name, with the image
	// labels in one LABEL instruction at the end of the target stage: the
	// classic builder turns each label passed as a build option into its
	// own step (about a second each on fuse-overlayfs), one instruction is
	// one step. The ignore file is kept in the context, as the docker CLI
	// ensures.
	excludes = append(excludes, "!.dockerignore")
	name := ".devorch.Dockerfile"
	tr, err := archive.TarWithOptions(ctxDir, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return nil, "", fmt.Errorf("service %q: tar build context: %w", s.Name, err)
	}
	return appendFile(tr, name, withLabels(dfContent, b.Target, imageLabels)), name, nil
}

// withLabels inserts one LABEL instruction at the end of the target stage
// (the last stage without a target).
func withLabels(df []byte, target string, l map[string]string) []byte {
	if len(l) == 0 {
		return df
	}
	var b strings.Builder
	b.WriteString("LABEL")
	for _, k := range slices.Sorted(maps.Keys(l)) {
		fmt.Fprintf(&b, " %s=%s", dockerfileQuote(k), dockerfileQuote(l[k]))
	}
	label := b.String()
	lines := strings.Split(string(df), "\n")
	insertAt := len(lines)
	if target != "" {
		inTarget := false
		cont := false
		for i, line := range lines {
			trimmed := strings.TrimSpace(line)
			isFrom := !cont && len(trimmed) >= 5 && strings.EqualFold(trimmed[:5], "FROM ")
			cont = strings.HasSuffix(strings.TrimRight(line, " \t"), "\\")
			if !isFrom {
				continue
			}
			if inTarget {
				insertAt = i
				break
			}
			f := strings.Fields(trimmed)
			if len(f) >= 4 && strings.EqualFold(f[len(f)-2], "as") && strings.EqualFold(f[len(f)-1], target) {
				inTarget = true
			}
		}
	}
	out := append(append(append([]string{}, lines[:insertAt]...), label), lines[insertAt:]...)
	return []byte(strings.Join(out, "\n"))
}

// dockerfileQuote quotes a LABEL key or value: double quotes, with
// backslashes, quotes and $ (which would be substituted) escaped.
func dockerfileQuote(v string) string {
	r := strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "$", "\\$", "\n", " ")
	return "\"" + r.Replace(v) + "\""
}

// appendFile streams a tar and adds one file at its end. Like the docker
// CLI, it also lists the file in .dockerignore (creating one if needed): the
// classic builder then removes it from the context after reading it, so a
// `COPY . /dst` does not copy the generated Dockerfile into the image.
func appendFile(in io.ReadCloser, name string, content []byte) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer in.Close()
		tr := tar.NewReader(in)
		tw := tar.NewWriter(pw)
		ignore := []byte(".dockerignore\n")
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if h.Name == ".dockerignore" && h.Typeflag == tar.TypeReg {
				if ignore, err = io.ReadAll(tr); err != nil {
					pw.CloseWithError(err)
					return
				}
				continue // rewritten below, with name added
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		ignore = append(ignore, "\n"+name+"\n"...)
		for _, f := range []struct {
			name string
			data []byte
		}{{".dockerignore", ignore}, {name, content}} {
			if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := tw.Write(f.data); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}

// ignorePatterns reads <Dockerfile>.dockerignore next to the Dockerfile if
// present, else <context>/.dockerignore.
func ignorePatterns(ctxDir, dfPath string) ([]string, error) {
	files := []string{filepath.Join(ctxDir, ".dockerignore")}
	if dfPath != "" {
		files = append([]string{dfPath + ".dockerignore"}, files...)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		pats, err := ignorefile.ReadAll(fh)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		return pats, nil
	}
	return nil, nil
}

// buildService builds one service's image on host h with the classic builder
// and returns the image ID.
func buildService(ctx context.Context, p *compose.Project, s types.ServiceConfig, h Host, noCache bool, sink Sink) (string, error) {
	b := s.Build
	if kit := buildKitOnly(b); len(kit) > 0 {
		return "", fmt.Errorf("service %q: build uses %s, which needs BuildKit; devorch builds through the Docker API's classic builder", s.Name, strings.Join(kit, ", "))
	}
	ref := Ref(p, s)
	l := map[string]string{}
	for k, v := range b.Labels {
		l[k] = v
	}
	l[labels.Project] = p.Name
	l[labels.Service] = s.Name
	if s.Image == "" {
		l[labels.Built] = "true"
	}
	tr, dockerfile, err := buildContext(s, l)
	if err != nil {
		return "", err
	}
	defer tr.Close()
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = v
	}
	var ulimits []*container.Ulimit
	for _, name := range slices.Sorted(maps.Keys(b.Ulimits)) {
		u := b.Ulimits[name]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		ulimits = append(ulimits, &units.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	tags := append([]string{ref}, b.Tags...)
	opts := build.ImageBuildOptions{
		Tags:        tags,
		Dockerfile:  dockerfile,
		BuildArgs:   args,
		Target:      b.Target,
		Remove:      true,
		ForceRemove: true,
		NoCache:     noCache || b.NoCache,
		PullParent:  b.Pull,
		NetworkMode: b.Network,
		ExtraHosts:  b.ExtraHosts.AsList(":"),
		ShmSize:     int64(b.ShmSize),
		Ulimits:     ulimits,
		CacheFrom:   b.CacheFrom,
		Isolation:   container.Isolation(b.Isolation),
		Version:     build.BuilderV1,
	}
	if len(b.Platforms) == 1 {
		opts.Platform = b.Platforms[0]
	}
	if auths, err := buildAuthConfigs(); err != nil {
		sink.warn("service %q: building without registry credentials: %v", s.Name, err)
	} else {
		opts.AuthConfigs = auths
	}
	sink.send(Event{Ref: ref, Host: h.Name, Service: s.Name, Status: "Building"})
	resp, err := h.API.ImageBuild(ctx, tr, opts)
	if err != nil {
		return "", fmt.Errorf("build service %q on host %q: %w", s.Name, h.Name, err)
	}
	defer resp.Body.Close()
	var id string
	var tail []string
	dec := json.NewDecoder(resp.Body)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				break
			}
			return "", fmt.Errorf("build service %q: read build output: %w", s.Name, err)
		}
		if m.Error != nil {
			msg := strings.TrimSpace(m.Error.Message)
			return "", fmt.Errorf("build service %q failed: %s%s", s.Name, msg, context2(tail))
		}
		if m.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		if m.Stream != "" {
			// The classic builder wraps a step's stderr in \x1b[91m…\x1b[0m;
			// the printer decides about colour, so drop the daemon's.
			stream := ansiSGR.ReplaceAllString(m.Stream, "")
			for _, line := range strings.Split(strings.TrimRight(stream, "\n"), "\n") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				tail = append(tail, line)
				if len(tail) > 5 {
					tail = tail[1:]
				}
				sink.send(Event{Ref: ref, Host: h.Name, Service: s.Name, Line: line})
			}
		}
	}
	if id == "" {
		insp, err := h.API.ImageInspect(ctx, ref)
		if err != nil {
			return "", fmt.Errorf("build service %q: image %s not found after build: %w", s.Name, ref, err)
		}
		id = insp.ID
	}
	sink.send(Event{Ref: ref, Host: h.Name, Service: s.Name, Status: "Built"})
	return id, nil
}

// ansiSGR matches terminal colour sequences.
var ansiSGR = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func context2(tail []string) string {
	if len(tail) == 0 {
		return ""
	}
	return "\n  " + strings.Join(tail, "\n  ")
}
