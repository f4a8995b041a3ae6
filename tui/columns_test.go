package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func layoutWidths(t *testing.T, m *Model) map[column]int {
	t.Helper()
	_ = m.View()
	out := map[column]int{}
	for _, c := range m.table.layout {
		out[c.col] = c.width
	}
	return out
}

// TestServicesColumnsSizedByContent: the table's columns are as wide as
// their content: the ports get what the longest ports need and no more,
// the image names show in full at 80×24 when they fit, a very long image
// name is bounded, and a narrow terminal still gets the service and state.
func TestServicesColumnsSizedByContent(t *testing.T) {
	longestPorts := ansi.StringWidth("80→8000,5353→53/udp")
	longestImage := len("dvt/worker:latest")

	m := newTestModel(t, newFake(), 160, 48)
	w := layoutWidths(t, m)
	if w[colPorts] != longestPorts || w[colImage] != longestImage {
		t.Errorf("160×48: PORTS %d cells, IMAGE %d; want %d and %d (their content)", w[colPorts], w[colImage], longestPorts, longestImage)
	}

	m = newTestModel(t, newFake(), 80, 24)
	w = layoutWidths(t, m)
	if w[colImage] != longestImage {
		t.Errorf("80×24: IMAGE %d cells, want %d: the full names fit", w[colImage], longestImage)
	}
	screen := m.View()
	for _, img := range []string{"dvt/worker:latest", "dvt/cache:latest"} {
		if !strings.Contains(screen, img) {
			t.Errorf("80×24: image %s not shown in full:\n%s", img, screen)
		}
	}
	checkScreen(t, screen, 80, 24)

	// A long image name is cut at its bound, not given the whole width.
	fb := newFake()
	long := "registry.example.com:5000/team/platform/some-rather-long-service-name:2024.11.30-rc1"
	fb.containers[0].Image = long
	m = newTestModel(t, fb, 200, 48)
	if w := layoutWidths(t, m); w[colImage] != maxImageW {
		t.Errorf("200×48 with a %d-cell image name: IMAGE %d cells, want the bound %d", len(long), w[colImage], maxImageW)
	}

	for _, width := range []int{60, 40, 24} {
		m = newTestModel(t, newFake(), width, 24)
		screen := m.View()
		checkScreen(t, screen, width, 24)
		w := layoutWidths(t, m)
		if w[colService] == 0 || w[colState] == 0 {
			t.Errorf("%d columns: the service or state column is gone: %v", width, w)
		}
	}
}
