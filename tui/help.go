package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
)

// renderHelp is the full help, generated from the key bindings: one block
// per group, laid out in as many columns as the width allows.
func (m *Model) renderHelp(w, h int) []string {
	var blocks [][]string
	widest := 0
	for _, g := range m.keys.full() {
		block := []string{m.th.Section.Render(g.title)}
		body := m.help.FullHelpView([][]key.Binding{g.bindings})
		block = append(block, strings.Split(body, "\n")...)
		for _, l := range block {
			widest = max(widest, visibleWidth(l))
		}
		blocks = append(blocks, block)
	}
	colW := widest + 4
	perRow := max(1, w/colW)
	var lines []string
	for i := 0; i < len(blocks); i += perRow {
		row := blocks[i:min(i+perRow, len(blocks))]
		tallest := 0
		for _, b := range row {
			tallest = max(tallest, len(b))
		}
		for j := 0; j < tallest; j++ {
			var sb strings.Builder
			sb.WriteString("  ")
			for k, b := range row {
				cell := ""
				if j < len(b) {
					cell = b[j]
				}
				if k < len(row)-1 {
					cell = fit(cell, colW)
				}
				sb.WriteString(cell)
			}
			lines = append(lines, clip(sb.String(), w))
		}
		lines = append(lines, "")
	}
	lines = append(lines, m.th.Dim.Render(clip("  Destructive actions (stop, recreate, rebuild, scale down) ask y/n first. In `devorch up`, ctrl+c stops the stack and q asks.", w)))
	return m.helpV.window(lines, h)
}
