package watch

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestPackSync(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "main.go"), "package main\n")
	write(t, filepath.Join(src, "pkg", "a.go"), "package pkg\n")
	if err := os.Symlink("main.go", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	r := Rule{Trigger: types.Trigger{Path: src, Target: "/app"}}
	changes := []Change{
		{Path: filepath.Join(src, "main.go")},
		{Path: filepath.Join(src, "pkg"), Dir: true},
		{Path: filepath.Join(src, "pkg", "a.go")},
		{Path: filepath.Join(src, "link")},
		{Path: filepath.Join(src, "old.go"), Deleted: true},
		{Path: filepath.Join(src, "gone.go")}, // vanished before it was read
	}
	s, err := PackSync(r, changes)
	if err != nil {
		t.Fatal(err)
	}
	if s.Files != 4 {
		t.Errorf("Files = %d, want 4", s.Files)
	}
	if want := []string{"/app/old.go", "/app/gone.go"}; !reflect.DeepEqual(s.Deletes, want) {
		t.Errorf("Deletes = %v, want %v", s.Deletes, want)
	}
	var got []string
	tr := tar.NewReader(bytes.NewReader(s.Tar))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, h.Name+" "+h.Linkname+" "+strings.TrimSpace(string(body)))
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s carries the local user %q/%q", h.Name, h.Uname, h.Gname)
		}
	}
	want := []string{"app/main.go  package main", "app/pkg/  ", "app/pkg/a.go  package pkg", "app/link main.go "}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tar entries:\n%q\nwant\n%q", got, want)
	}

	empty, err := PackSync(r, []Change{{Path: filepath.Join(src, "x"), Deleted: true}})
	if err != nil || empty.Files != 0 || len(empty.Deletes) != 1 {
		t.Errorf("deletes only: %+v, %v", empty, err)
	}
}
