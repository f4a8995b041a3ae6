package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// checkRefusal asserts a clear refusal: the exit code, the phrases, at
// most two lines (the error and a hint), a bounded size, no Go internals.
func checkRefusal(t *testing.T, r result, code int, wants []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d: %.2000s", r.code, code, r)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q: %.2000s", w, r)
		}
	}
	if lines := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") + 1; lines > 2 {
		t.Errorf("stderr has %d lines, want at most 2: %.2000s", lines, r.stderr)
	}
	if len(r.stderr) > 1000 {
		t.Errorf("stderr has %d bytes: %.300s…", len(r.stderr), r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "Error: ") {
		t.Errorf("stderr does not start with the error: %.500s", r.stderr)
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr shows Go internals (%q): %.2000s", bad, r.stderr)
		}
	}
}

// A typo on the command line fails a script: an unknown command,
// subcommand or flag exits 16 with the error and one hint line naming the
// closest command or flag. None of this needs Docker or a compose file.
func TestTyposExitNonZero(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args  []string
		wants []string
	}{
		{[]string{"upp"}, []string{`unknown command "upp" for "devorch"`, `Did you mean "up"?`}},
		{[]string{"hosts", "frobnicate"}, []string{`unknown command "frobnicate" for "devorch hosts"`}},
		{[]string{"volume", "lss"}, []string{`unknown command "lss" for "devorch volume"`, `Did you mean "ls"?`}},
		{[]string{"help", "upp"}, []string{`unknown command "upp" for "devorch"`, `Did you mean "up"?`}},
		{[]string{"down", "extra"}, []string{`unknown command "extra" for "devorch down"`}},
		{[]string{"up", "--detatch"}, []string{"unknown flag: --detatch", "Did you mean --detach?"}},
		{[]string{"up", "-f", "x.yaml"}, []string{"unknown shorthand flag: 'f' in -f", "-f is a global flag: it goes before the command"}},
		{[]string{"--bogus", "up"}, []string{"unknown flag: --bogus", "See 'devorch --help'."}},
		{[]string{"exec"}, []string{"requires at least 2 arg(s)", "See 'devorch exec --help'."}},
		{[]string{"--host", "x=unix:///x.sock;address=nope", "version"}, []string{`--host: host "x": address "nope" is not an IP address`}},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(append([]string{"--ansi", "never"}, c.args...), strings.NewReader(""), &out, &errb)
		r := result{code: code, stdout: out.String(), stderr: errb.String()}
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			checkRefusal(t, r, exitSyntaxFailure, c.wants)
			if r.stdout != "" {
				t.Errorf("stdout not empty (help printed?): %.300s", r.stdout)
			}
		})
	}
	// devorch alone outside a terminal, and help, still print help and exit 0.
	for _, args := range [][]string{{}, {"help", "up"}, {"up", "--help"}, {"volume"}} {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%v: exit %d, stdout %.200q, stderr %q", args, code, out.String(), errb.String())
		}
	}
}

// A panic is a bug, but it must not escape as a Go stack trace: execute
// turns it into one line and exit code 1.
func TestPanicBecomesOneLineInternalError(t *testing.T) {
	t.Setenv("DEVORCH_DEBUG", "")
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errb)
	a.ansi = "never"
	root := a.rootCommand()
	root.AddCommand(&cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error {
		var m map[string]int
		m["x"] = 1 // assignment to entry in nil map
		return nil
	}})
	code := a.execute(context.Background(), root, []string{"boom"})
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	checkRefusal(t, r, 1, []string{"internal error: assignment to entry in nil map", "a bug in devorch"})
}
