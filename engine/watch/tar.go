package watch

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Sync is what a sync rule's changes do to a container.
type Sync struct {
	Tar     []byte   // the files to copy, one stream to extract at /
	Files   int      // entries in Tar; nothing to copy when 0
	Deletes []string // container paths to remove
}

// PackSync maps changes under the rule's path to its target in the
// container and packs what exists into one tar stream; a path deleted, or
// gone by the time it is read, is to be removed instead.
func PackSync(r Rule, changes []Change) (Sync, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var s Sync
	for _, c := range changes {
		rel, err := filepath.Rel(r.Trigger.Path, c.Path)
		if err != nil {
			continue
		}
		target := path.Join(r.Trigger.Target, filepath.ToSlash(rel))
		if c.Deleted {
			s.Deletes = append(s.Deletes, target)
			continue
		}
		if err := addToTar(tw, c, strings.TrimPrefix(target, "/")); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				s.Deletes = append(s.Deletes, target)
				continue
			}
			return Sync{}, err
		}
		s.Files++
	}
	if err := tw.Close(); err != nil {
		return Sync{}, err
	}
	s.Tar = buf.Bytes()
	return s, nil
}

func addToTar(tw *tar.Writer, c Change, name string) error {
	fi, err := os.Lstat(c.Path)
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	hdr.Name = name
	hdr.Uname, hdr.Gname = "", ""
	if fi.IsDir() {
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		link, err := os.Readlink(c.Path)
		if err != nil {
			return err
		}
		hdr.Linkname = link
		return tw.WriteHeader(hdr)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(c.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}
