package engine

import (
	"strings"
	"testing"
)

func valPtr[T any](v T) *T { return &v }

// wantErr fails t unless err is as wanted: an error containing want, or no
// error when want is empty. It reports whether the case goes on (no error).
func wantErr(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error = %v, want one containing %q", err, want)
	case want == "" && err != nil:
		t.Fatal(err)
	}
	return want == ""
}
