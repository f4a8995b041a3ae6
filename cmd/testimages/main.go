// Command testimages builds the devorch test images (devorch-test/testapp
// and devorch-test/busybox) on the default Docker daemon if they are missing
// or stale, and prints their IDs. `make test` runs it before the suite.
//
//	go run ./cmd/testimages [-save DIR]
//
// With -save it also writes both images to DIR/testimages.tar (docker save
// format), for loading into extra Docker hosts.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/devorch/devorch/internal/testenv"
)

func main() {
	saveDir := flag.String("save", "", "also save both images to `DIR`/testimages.tar")
	flag.Parse()
	if err := run(*saveDir); err != nil {
		fmt.Fprintln(os.Stderr, "testimages:", err)
		os.Exit(1)
	}
}

func run(saveDir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli, err := testenv.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	defer cli.Close()
	if err := testenv.EnsureImages(ctx, cli); err != nil {
		return err
	}
	images := []string{testenv.TestappImage, testenv.BusyboxImage}
	for _, ref := range images {
		insp, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s\n", ref, insp.ID)
	}
	if saveDir == "" {
		return nil
	}
	if err := os.MkdirAll(saveDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(saveDir, "testimages.tar")
	rc, err := cli.ImageSave(ctx, images)
	if err != nil {
		return fmt.Errorf("saving images: %w", err)
	}
	defer rc.Close()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("saving images: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Println("saved", path)
	return nil
}
