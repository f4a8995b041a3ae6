package tui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// scroller is the scroll position of a view that shows a list of lines
// without a cursor (detail, images, hosts, help).
type scroller struct {
	offset int
	total  int // lines at the last render
}

func (s *scroller) update(k tea.KeyMsg, km keyMap, h int) bool {
	switch {
	case key.Matches(k, km.Up):
		s.offset--
	case key.Matches(k, km.Down):
		s.offset++
	case key.Matches(k, km.PageUp):
		s.offset -= h
	case key.Matches(k, km.PageDown):
		s.offset += h
	case key.Matches(k, km.Top):
		s.offset = 0
	case key.Matches(k, km.Bottom):
		s.offset = s.total
	default:
		return false
	}
	s.clamp(h)
	return true
}

func (s *scroller) clamp(h int) {
	s.offset = clamp(s.offset, 0, s.total-h)
}

// window returns the lines on screen.
func (s *scroller) window(lines []string, h int) []string {
	s.total = len(lines)
	s.clamp(h)
	end := s.offset + h
	if end >= len(lines) || h < 3 {
		return lines[s.offset:min(end, len(lines))]
	}
	// More below: say so on the last line, so that nothing looks cut.
	out := append(make([]string, 0, h), lines[s.offset:end-1]...)
	return append(out, fmt.Sprintf("  ↓ %d more lines (j/k, pgdn)", len(lines)-end+1))
}

// cursorList is the cursor and scroll position of a list with a selected
// row (services table, resources, alerts).
type cursorList struct {
	cursor, offset int
}

func (c *cursorList) update(k tea.KeyMsg, km keyMap, n, h int) bool {
	switch {
	case key.Matches(k, km.Up):
		c.cursor--
	case key.Matches(k, km.Down):
		c.cursor++
	case key.Matches(k, km.PageUp):
		c.cursor -= h
	case key.Matches(k, km.PageDown):
		c.cursor += h
	case key.Matches(k, km.Top):
		c.cursor = 0
	case key.Matches(k, km.Bottom):
		c.cursor = n - 1
	default:
		return false
	}
	c.fix(n, h)
	return true
}

// fix keeps the cursor on a row and on screen.
func (c *cursorList) fix(n, h int) {
	c.cursor = clamp(c.cursor, 0, n-1)
	if h < 1 {
		h = 1
	}
	if c.cursor < c.offset {
		c.offset = c.cursor
	}
	if c.cursor >= c.offset+h {
		c.offset = c.cursor - h + 1
	}
	c.offset = clamp(c.offset, 0, n-h)
}
