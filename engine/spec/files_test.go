package spec

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"
)

func TestInlineArchive(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	files := []InlineFile{
		{Target: "/run/secrets/token", Content: []byte("t0k"), Mode: 0o400, UID: 1000, GID: 1001},
		{Target: "/app.conf", Content: []byte("c"), Mode: 0o444},
		{Target: "/etc/app/b.conf", Content: nil, Mode: 0o444},
	}
	r, err := InlineArchive(files, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(now) {
			t.Errorf("%s modified %v, want %v", h.Name, h.ModTime, now)
		}
		got = append(got, fmt.Sprintf("%s %c %o %d:%d %q", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, body))
	}
	// The directories first, parents before children, then the files in
	// the order given.
	want := []string{
		`etc/ 5 755 0:0 ""`,
		`etc/app/ 5 755 0:0 ""`,
		`run/ 5 755 0:0 ""`,
		`run/secrets/ 5 755 0:0 ""`,
		`run/secrets/token 0 400 1000:1001 "t0k"`,
		`app.conf 0 444 0:0 "c"`,
		`etc/app/b.conf 0 444 0:0 ""`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("archive:\n%q\nwant\n%q", got, want)
	}
}
