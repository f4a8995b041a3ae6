// Package hosts owns the pool of Docker endpoints devorch runs containers
// on: which hosts are declared (flags, DEVORCH_HOSTS, x-devorch, or the
// single default host from the Docker environment), a client per host, and
// what each host reports about itself (reachability, CPUs, memory).
package hosts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/devorch/devorch/internal/errtext"
)

// LocalName is the name of the one host used when none is declared.
const LocalName = "local"

// Spec declares a host: a name, a Docker endpoint, where other hosts reach
// its published ports, and labels for placement constraints.
type Spec struct {
	Name     string            `json:"name"`
	Endpoint string            `json:"endpoint"`
	Address  string            `json:"address,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// TLS material for tcp endpoints (from DOCKER_CERT_PATH or a context).
	TLSVerify bool   `json:"-"`
	CertPath  string `json:"-"`
}

// Host is one Docker endpoint with its client.
type Host struct {
	Spec
	Client client.APIClient

	mu       sync.Mutex
	info     *system.Info
	infoErr  error
	infoTime time.Time
	// live says whether a run declared the host lost (liveness.go).
	live *liveness
	// sshArgs are DEVORCH_SSH_ARGS, for the watch's own client.
	sshArgs []string
}

// Pool is the set of hosts a project may use, sorted by name.
type Pool struct {
	Hosts []*Host
}

// ParseSpec parses NAME=ENDPOINT[;address=IP][;label.K=V]...
func ParseSpec(s string) (Spec, error) {
	parts := strings.Split(s, ";")
	name, ep, ok := strings.Cut(parts[0], "=")
	name, ep = strings.TrimSpace(name), strings.TrimSpace(ep)
	if !ok || name == "" || ep == "" {
		return Spec{}, fmt.Errorf("host %q: want NAME=ENDPOINT[;address=IP][;label.KEY=VALUE]", s)
	}
	if !validName(name) {
		return Spec{}, fmt.Errorf("host %q: name %q may only use letters, digits, '-' and '_'", s, name)
	}
	sp := Spec{Name: name, Endpoint: ep}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return Spec{}, fmt.Errorf("host %q: option %q is not KEY=VALUE", name, p)
		case k == "address":
			if net.ParseIP(v) == nil {
				return Spec{}, fmt.Errorf("host %q: address %s is not an IP address (the address other hosts reach this one at)", name, errtext.Quote(v))
			}
			sp.Address = v
		case strings.HasPrefix(k, "label."):
			if sp.Labels == nil {
				sp.Labels = map[string]string{}
			}
			sp.Labels[strings.TrimPrefix(k, "label.")] = v
		default:
			return Spec{}, fmt.Errorf("host %q: unknown option %q (want address= or label.KEY=)", name, k)
		}
	}
	return sp, nil
}

func validName(n string) bool {
	for _, r := range n {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return n != ""
}

// Declared picks the host specs, first match wins: --host flags, then
// DEVORCH_HOSTS (comma-separated entries), then an x-devorch hosts block.
// It returns nil when none are declared: the caller uses Default.
func Declared(flags []string, envHosts string, fromFile []Spec) ([]Spec, error) {
	var raw []string
	// Errors name where the hosts came from.
	source := "--host"
	switch {
	case len(flags) > 0:
		raw = flags
	case strings.TrimSpace(envHosts) != "":
		source = "DEVORCH_HOSTS"
		for _, e := range strings.Split(envHosts, ",") {
			if strings.TrimSpace(e) != "" {
				raw = append(raw, e)
			}
		}
	default:
		out := append([]Spec(nil), fromFile...)
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		for _, sp := range out {
			if sp.Address != "" && net.ParseIP(sp.Address) == nil {
				return nil, fmt.Errorf("x-devorch hosts: host %q: address %s is not an IP address", sp.Name, errtext.Quote(sp.Address))
			}
		}
		if err := checkUnique(out); err != nil {
			return nil, fmt.Errorf("x-devorch hosts: %w", err)
		}
		return out, nil
	}
	var out []Spec
	for _, r := range raw {
		s, err := ParseSpec(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if err := checkUnique(out); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return out, nil
}

func checkUnique(specs []Spec) error {
	for i := 1; i < len(specs); i++ {
		if specs[i].Name == specs[i-1].Name {
			return fmt.Errorf("host %q is declared twice", specs[i].Name)
		}
	}
	return nil
}

// Default is the single host used when none is declared: DOCKER_HOST, then
// DOCKER_CONTEXT or the CLI's current context, then the default socket.
func Default(getenv func(string) string) (Spec, error) {
	sp := Spec{Name: LocalName}
	if h := getenv("DOCKER_HOST"); h != "" {
		sp.Endpoint = h
		sp.TLSVerify = getenv("DOCKER_TLS_VERIFY") != ""
		sp.CertPath = getenv("DOCKER_CERT_PATH")
		return sp, nil
	}
	ctxName := getenv("DOCKER_CONTEXT")
	cfgDir := cliConfigDir(getenv)
	if ctxName == "" {
		// A config.json that cannot be read names no context: the CLI
		// itself goes on with the default one then.
		if cfg, err := config.Load(cfgDir); err == nil {
			ctxName = cfg.CurrentContext
		}
	}
	if ctxName != "" && ctxName != "default" {
		ep, tlsDir, err := contextEndpoint(cfgDir, ctxName)
		if err != nil {
			return sp, err
		}
		sp.Endpoint = ep
		if tlsDir != "" {
			sp.TLSVerify, sp.CertPath = true, tlsDir
		}
		return sp, nil
	}
	sp.Endpoint = client.DefaultDockerHost
	return sp, nil
}

// cliConfigDir is the Docker CLI's config directory: DOCKER_CONFIG, else
// .docker in HOME, else in the user's home as the CLI finds it (on Windows,
// where HOME is usually unset, %USERPROFILE%).
func cliConfigDir(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".docker")
	}
	return config.Dir()
}

// contextEndpoint reads a Docker CLI context's docker endpoint from its
// metadata store (~/.docker/contexts/meta/<sha256(name)>/meta.json).
func contextEndpoint(cfgDir, name string) (endpoint, tlsDir string, err error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := os.ReadFile(filepath.Join(cfgDir, "contexts", "meta", id, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("docker context %q not found in %s (docker context ls lists them)", name, cfgDir)
	}
	if err != nil {
		return "", "", fmt.Errorf("docker context %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", "", fmt.Errorf("docker context %q: %w", name, err)
	}
	ep := meta.Endpoints["docker"].Host
	if ep == "" {
		return "", "", fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	dir := filepath.Join(cfgDir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
		tlsDir = dir
	}
	return ep, tlsDir, nil
}

// Open creates a client for every spec; it does not contact the hosts.
func Open(specs []Spec, getenv func(string) string) (*Pool, error) {
	p := &Pool{}
	for _, sp := range specs {
		if !strings.Contains(sp.Endpoint, "://") {
			// A bare name is a Docker context.
			ep, tlsDir, err := contextEndpoint(cliConfigDir(getenv), sp.Endpoint)
			if err != nil {
				return nil, fmt.Errorf("host %q: %w", sp.Name, err)
			}
			sp.Endpoint = ep
			if tlsDir != "" {
				sp.TLSVerify, sp.CertPath = true, tlsDir
			}
		}
		if sp.Address == "" {
			if u, err := url.Parse(sp.Endpoint); err == nil && (u.Scheme == "tcp" || u.Scheme == "ssh") {
				sp.Address = u.Hostname()
			}
		}
		if strings.HasPrefix(sp.Endpoint, "tcp://") && !sp.TLSVerify && getenv("DOCKER_TLS_VERIFY") != "" {
			sp.TLSVerify, sp.CertPath = true, getenv("DOCKER_CERT_PATH")
		}
		live, sshArgs := newLiveness(), strings.Fields(getenv(EnvSSHArgs))
		c, err := newClient(sp, sshArgs, withLiveness(live))
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("host %q (%s): %w", sp.Name, sp.Endpoint, err)
		}
		p.Hosts = append(p.Hosts, &Host{Spec: sp, Client: c, live: live, sshArgs: sshArgs})
	}
	sort.Slice(p.Hosts, func(i, j int) bool { return p.Hosts[i].Name < p.Hosts[j].Name })
	return p, nil
}

func newClient(sp Spec, sshArgs []string, extra ...client.Opt) (*client.Client, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	if strings.HasPrefix(sp.Endpoint, "ssh://") {
		dialer, err := sshDialer(sp.Endpoint, sshArgs)
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			client.WithHost("http://docker.example.com"),
			client.WithDialContext(dialer))
	} else {
		opts = append(opts, client.WithHost(sp.Endpoint))
	}
	if sp.TLSVerify && sp.CertPath != "" {
		opts = append(opts, client.WithTLSClientConfig(
			filepath.Join(sp.CertPath, "ca.pem"),
			filepath.Join(sp.CertPath, "cert.pem"),
			filepath.Join(sp.CertPath, "key.pem")))
	}
	return client.NewClientWithOpts(append(opts, extra...)...)
}

// Close closes every client.
func (p *Pool) Close() {
	for _, h := range p.Hosts {
		if h.Client != nil {
			_ = h.Client.Close()
		}
	}
}

// Get returns the host named name, or nil.
func (p *Pool) Get(name string) *Host {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Names lists the host names, sorted.
func (p *Pool) Names() []string {
	out := make([]string, len(p.Hosts))
	for i, h := range p.Hosts {
		out[i] = h.Name
	}
	return out
}

// Single reports whether the pool has exactly one host.
func (p *Pool) Single() bool { return len(p.Hosts) == 1 }

// Info returns the host's engine information, cached for maxAge. A host that
// does not answer within HostTimeout is reported unreachable.
func (h *Host) Info(ctx context.Context, maxAge time.Duration) (*system.Info, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.infoTime.IsZero() && time.Since(h.infoTime) < maxAge {
		return h.info, h.infoErr
	}
	cctx, cancel := context.WithTimeout(ctx, HostTimeout(os.Getenv))
	defer cancel()
	info, err := h.Client.Info(cctx)
	if err != nil {
		h.info, h.infoErr = nil, fmt.Errorf("host %q (%s) is unreachable: %w", h.Name, h.Endpoint, err)
	} else {
		h.info, h.infoErr = &info, nil
	}
	h.infoTime = time.Now()
	return h.info, h.infoErr
}

// Ping checks the host answers, within HostTimeout.
func (h *Host) Ping(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, HostTimeout(os.Getenv))
	defer cancel()
	if _, err := h.Client.Ping(cctx); err != nil {
		return fmt.Errorf("host %q (%s) is unreachable: %w", h.Name, h.Endpoint, err)
	}
	return nil
}
