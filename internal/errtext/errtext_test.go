package errtext

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	if got := Quote("short"); got != `"short"` {
		t.Errorf("Quote(short) = %s", got)
	}
	long := strings.Repeat("a", 5_000_000)
	got := Quote(long)
	if want := `"` + strings.Repeat("a", MaxValue) + `…" (5000000 chars)`; got != want {
		t.Errorf("Quote(5 MB) = %.200s", got)
	}
	// Cut on a rune boundary.
	got = Quote(strings.Repeat("é", 100))
	if !strings.HasPrefix(got, `"`+strings.Repeat("é", MaxValue)+`…"`) || !strings.HasSuffix(got, "(100 chars)") {
		t.Errorf("Quote(é×100) = %s", got)
	}
}

func TestClip(t *testing.T) {
	big := strings.Repeat("a", 5_000_000)
	spaced := strings.Repeat("ab ", 2_000_000)
	cases := []struct {
		name, in string
		wants    []string
	}{
		{"short unchanged", `service "a": restart "x" is bad`, []string{`service "a": restart "x" is bad`}},
		{"double-quoted", `error while interpolating services.a.cpus: strconv.ParseFloat: parsing "` + big + `": invalid syntax`,
			[]string{`parsing "` + strings.Repeat("a", MaxValue) + `…" (5000000 chars): invalid syntax`}},
		{"single-quoted", `'services[a].mem_limit' invalid size: '` + big + `'`,
			[]string{`'services[a].mem_limit' invalid size: '` + strings.Repeat("a", MaxValue) + `…' (5000000 chars)`}},
		{"bare token", `Invalid containerPort: ` + big, []string{`Invalid containerPort: ` + strings.Repeat("a", MaxValue) + `… (5000000 chars)`}},
		{"unclosed quote", `bad value "` + big, []string{`bad value "` + strings.Repeat("a", MaxValue) + `… (5000000 chars)`}},
		{"spaces inside", `bad value: ` + spaced, []string{"bad value: ab ab", "… (6000011 chars)"}},
		{"second line kept", "first\nbad " + big, []string{"first\nbad aaa"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Clip(c.in)
			for _, line := range strings.Split(got, "\n") {
				if n := len([]rune(line)); n > MaxLine+40 {
					t.Errorf("line of %d chars left: %.120s", n, line)
				}
			}
			for _, w := range c.wants {
				if !strings.Contains(got, w) {
					t.Errorf("Clip = %.300q, lacks %.200q", got, w)
				}
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	in := "decoding failed due to the following error(s):\n\n'services[a].mem_limit' invalid size: 'x'\n'services[a].shm_size' invalid size: 'y'\n"
	want := "decoding failed due to the following error(s): 'services[a].mem_limit' invalid size: 'x'; 'services[a].shm_size' invalid size: 'y'"
	if got := OneLine(in); got != want {
		t.Errorf("OneLine = %q", got)
	}
}
