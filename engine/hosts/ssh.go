package hosts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// EnvSSHArgs names the environment variable whose whitespace-separated words
// are passed to ssh before the destination, for every ssh:// host: e.g.
// DEVORCH_SSH_ARGS="-F /path/ssh_config" or "-i KEY -o UserKnownHostsFile=FILE".
// (Words cannot contain spaces; put such settings in a config file for -F.)
const EnvSSHArgs = "DEVORCH_SSH_ARGS"

// sshDialer returns a dialer that reaches the Docker API of an ssh:// host by
// running `docker system dial-stdio` over ssh, as the Docker CLI's
// connection helper does. extra are more ssh options (EnvSSHArgs).
func sshDialer(endpoint string, extra []string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ssh endpoint %q has no host", endpoint)
	}
	args := []string{"-o", "ConnectTimeout=5", "-o", "BatchMode=yes"}
	args = append(args, extra...)
	if u.Port() != "" {
		args = append(args, "-p", u.Port())
	}
	target := u.Hostname()
	if u.User != nil {
		target = u.User.Username() + "@" + target
	}
	args = append(args, "--", target, "docker", "system", "dial-stdio")
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return startCmdConn(exec.Command("ssh", args...), "ssh to "+target)
	}, nil
}

// startCmdConn starts cmd with its stdin and stdout as a connection. The
// pipes are plain os.Pipes (not StdinPipe/StdoutPipe) so that waiting for
// the command in the background never closes the read end under a reader.
// What the command prints on stderr is kept: when it fails, reads return it
// instead of a bare EOF (ssh's "Permission denied", "Host key verification
// failed", "docker: command not found").
func startCmdConn(cmd *exec.Cmd, what string) (*cmdConn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	c := &cmdConn{cmd: cmd, what: what, r: outR, w: inW, done: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &c.stderr
	// A process ssh forks (a ControlPersist master, a ProxyCommand) may keep
	// stderr open after ssh exits: do not wait for it.
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// cmdConn is a net.Conn over a command's stdin and stdout.
type cmdConn struct {
	cmd     *exec.Cmd
	what    string
	r       *os.File
	w       *os.File
	stderr  tailBuffer
	done    chan struct{}
	waitErr error // set before done is closed
	once    sync.Once
}

func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		// The command closed its stdout: if it failed, say why.
		select {
		case <-c.done:
		case <-time.After(3 * time.Second):
			return n, err
		}
		if c.waitErr != nil {
			if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
				return n, fmt.Errorf("%s: %s", c.what, msg)
			}
			return n, fmt.Errorf("%s: %w", c.what, c.waitErr)
		}
	}
	return n, err
}

func (c *cmdConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// CloseWrite closes the command's stdin (half-close, for hijacked streams).
func (c *cmdConn) CloseWrite() error { return c.w.Close() }

func (c *cmdConn) Close() error {
	c.once.Do(func() {
		_ = c.w.Close()
		_ = c.cmd.Process.Kill()
		<-c.done // bounded by WaitDelay
		_ = c.r.Close()
	})
	return nil
}

func (c *cmdConn) LocalAddr() net.Addr              { return dummyAddr{} }
func (c *cmdConn) RemoteAddr() net.Addr             { return dummyAddr{} }
func (c *cmdConn) SetDeadline(time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return nil }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "ssh" }
func (dummyAddr) String() string  { return "ssh" }

// tailBuffer keeps the last few KB written to it, safely for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 4096

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - tailMax; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
