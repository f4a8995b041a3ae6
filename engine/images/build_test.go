package images

import (
	"strings"
	"testing"
)

func TestCheckDockerfile(t *testing.T) {
	cases := map[string]string{
		"FROM scratch\nRUN --mount=type=cache,target=/x true\n":            "Dockerfile:2 uses RUN --mount",
		"FROM scratch\nRUN \\\n  --mount=type=cache,target=/x true\n":      "Dockerfile:2 uses RUN --mount",
		"# syntax=docker/dockerfile:1\nFROM scratch\nCOPY --link a /a\n":   "Dockerfile:3 uses COPY --link",
		"# syntax=docker/dockerfile:1\nFROM scratch\nRUN echo --mount=x\n": "",
		"FROM scratch\nCOPY --chown=1:1 a /a\n":                            "",
	}
	for df, want := range cases {
		err := checkDockerfile("s", "Dockerfile", []byte(df))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: unexpected %v", df, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: got %v, want %q", df, err, want)
		}
	}
}

func TestWithLabels(t *testing.T) {
	l := map[string]string{"dev.devorch.project": "p", "note": `a "b" $HOME`}
	got := string(withLabels([]byte("FROM a AS base\nRUN x\nFROM base AS app\nCOPY . /\nFROM scratch AS tiny\n"), "app", l))
	want := "FROM a AS base\nRUN x\nFROM base AS app\nCOPY . /\nLABEL \"dev.devorch.project\"=\"p\" \"note\"=\"a \\\"b\\\" \\$HOME\"\nFROM scratch AS tiny\n"
	if got != want {
		t.Errorf("target stage:\n%s\nwant:\n%s", got, want)
	}
	got = string(withLabels([]byte("FROM a\nRUN x"), "", map[string]string{"k": "v"}))
	if got != "FROM a\nRUN x\nLABEL \"k\"=\"v\"" {
		t.Errorf("last stage: %q", got)
	}
}
