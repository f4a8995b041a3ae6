package hosts

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	sp, err := ParseSpec("b=tcp://10.0.0.2:2375;address=10.0.0.2;label.zone=eu;label.ssd=true")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Name != "b" || sp.Endpoint != "tcp://10.0.0.2:2375" || sp.Address != "10.0.0.2" || sp.Labels["zone"] != "eu" || sp.Labels["ssd"] != "true" {
		t.Errorf("%+v", sp)
	}
	for _, bad := range []string{"noendpoint", "=unix:///x", "a b=unix:///x", "a=unix:///x;color=red", "a=unix:///x;address"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDeclaredFirstMatchWins(t *testing.T) {
	file := []Spec{{Name: "f", Endpoint: "unix:///f.sock"}}
	got, err := Declared([]string{"b=unix:///b.sock", "a=unix:///a.sock"}, "e=unix:///e.sock", file)
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Errorf("flags: %v %v", got, err)
	}
	got, err = Declared(nil, "e=unix:///e.sock, g=unix:///g.sock", file)
	if err != nil || len(got) != 2 || got[0].Name != "e" {
		t.Errorf("env: %v %v", got, err)
	}
	got, err = Declared(nil, "", file)
	if err != nil || len(got) != 1 || got[0].Name != "f" {
		t.Errorf("file: %v %v", got, err)
	}
	got, err = Declared(nil, "", nil)
	if err != nil || len(got) != 0 {
		t.Errorf("none: %v %v", got, err)
	}
	if _, err := Declared([]string{"a=unix:///1", "a=unix:///2"}, "", nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
}

// A bad address is refused, naming where the host was declared.
func TestDeclaredRefusesAnAddressThatIsNotAnIP(t *testing.T) {
	bad := "a=unix:///var/run/docker.sock;address=not-an-ip"
	for _, c := range []struct {
		flags []string
		env   string
		file  []Spec
		want  string
	}{
		{[]string{bad}, "", nil, `--host: host "a": address "not-an-ip" is not an IP address`},
		{nil, bad, nil, `DEVORCH_HOSTS: host "a": address "not-an-ip" is not an IP address`},
		{nil, "", []Spec{{Name: "a", Endpoint: "unix:///x", Address: "not-an-ip"}}, `x-devorch hosts: host "a": address "not-an-ip" is not an IP address`},
	} {
		if _, err := Declared(c.flags, c.env, c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
	if sp, err := ParseSpec("a=unix:///x;address=fd00::2"); err != nil || sp.Address != "fd00::2" {
		t.Errorf("IPv6 address: %+v %v", sp, err)
	}
}

func TestDefaultFollowsDockerHostThenContext(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	getenv := func(k string) string { return env[k] }
	sp, err := Default(getenv)
	if err != nil || sp.Endpoint != "unix:///var/run/docker.sock" || sp.Name != LocalName {
		t.Errorf("default: %+v %v", sp, err)
	}
	// A current context in the CLI config.
	sum := sha256.Sum256([]byte("remote"))
	meta := filepath.Join(home, ".docker", "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://192.0.2.1:2376"}}}`), 0o644)
	_ = os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(`{"currentContext":"remote"}`), 0o644)
	sp, err = Default(getenv)
	if err != nil || sp.Endpoint != "tcp://192.0.2.1:2376" {
		t.Errorf("current context: %+v %v", sp, err)
	}
	env["DOCKER_CONTEXT"] = "default"
	if sp, _ := Default(getenv); sp.Endpoint != "unix:///var/run/docker.sock" {
		t.Errorf("DOCKER_CONTEXT=default: %+v", sp)
	}
	env["DOCKER_CONTEXT"] = "missing"
	if _, err := Default(getenv); err == nil {
		t.Errorf("missing context: no error")
	}
	env["DOCKER_HOST"] = "unix:///custom.sock"
	if sp, _ := Default(getenv); sp.Endpoint != "unix:///custom.sock" {
		t.Errorf("DOCKER_HOST wins: %+v", sp)
	}
}

func TestOpenDerivesAddress(t *testing.T) {
	p, err := Open([]Spec{{Name: "b", Endpoint: "tcp://198.51.100.7:2375"}, {Name: "a", Endpoint: "unix:///x.sock"}}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Hosts[0].Name != "a" || p.Get("b").Address != "198.51.100.7" || p.Get("a").Address != "" {
		t.Errorf("%+v %+v", p.Hosts[0].Spec, p.Hosts[1].Spec)
	}
}

// A connection over a command that fails says why, with what the command
// printed on stderr, instead of a bare EOF; one that works carries bytes
// both ways and closes.
func TestCmdConnReportsTheCommandsError(t *testing.T) {
	c, err := startCmdConn(exec.Command("sh", "-c", "echo 'Permission denied (publickey).' >&2; exit 255"), "ssh to x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(c)
	if err == nil || !strings.Contains(err.Error(), "ssh to x: Permission denied (publickey).") {
		t.Errorf("read from a failed command: %v", err)
	}
	c.Close()

	c, err = startCmdConn(exec.Command("cat"), "cat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "ping\n" {
		t.Errorf("echo through cat: %q, %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// A Windows named pipe is an endpoint as the Docker CLI takes it: the
// Docker client dials it on Windows; elsewhere opening it fails naming the
// host.
func TestOpenNamedPipe(t *testing.T) {
	sp, err := ParseSpec("win=npipe:////./pipe/docker_engine")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open([]Spec{sp}, func(string) string { return "" })
	if runtime.GOOS == "windows" {
		if err != nil {
			t.Fatalf("npipe on Windows: %v", err)
		}
		p.Close()
		return
	}
	if err == nil || !strings.Contains(err.Error(), `host "win" (npipe:////./pipe/docker_engine)`) {
		t.Fatalf("npipe on %s: want an error naming the host, got %v", runtime.GOOS, err)
	}
}
