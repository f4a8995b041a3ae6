package tui

import (
	"hash/fnv"
	"strconv"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Theme holds every style the TUI uses. All of them come from one
// renderer made from the output, so NO_COLOR and the terminal's profile
// apply everywhere, and colours adapt to dark and light backgrounds.
type Theme struct {
	Title, HeaderInfo       lipgloss.Style
	Tab, TabActive          lipgloss.Style
	ColumnHeader            lipgloss.Style
	Selected                lipgloss.Style
	Dim, Bold               lipgloss.Style
	Good, Warn, Bad, Info   lipgloss.Style
	Banner, BannerWarn      lipgloss.Style
	StatusInfo, StatusError lipgloss.Style
	StatusOK, StatusWarn    lipgloss.Style
	Prompt                  lipgloss.Style
	Match, CurrentMatch     lipgloss.Style
	Section, Label          lipgloss.Style
	BarUsed, BarReserved    lipgloss.Style
	BarFree, Spark          lipgloss.Style
	Services                []lipgloss.Style // log prefixes, by service
	Help                    help.Styles
}

var (
	cText    = lipgloss.AdaptiveColor{Light: "#1a1a1a", Dark: "#e6e6e6"}
	cDim     = lipgloss.AdaptiveColor{Light: "#7a7a7a", Dark: "#7f7f7f"}
	cAccent  = lipgloss.AdaptiveColor{Light: "#5a3fc0", Dark: "#a48cf2"}
	cGood    = lipgloss.AdaptiveColor{Light: "#1f7a33", Dark: "#5fd78a"}
	cWarn    = lipgloss.AdaptiveColor{Light: "#946200", Dark: "#f2c14e"}
	cBad     = lipgloss.AdaptiveColor{Light: "#b3261e", Dark: "#ff6b6b"}
	cInfo    = lipgloss.AdaptiveColor{Light: "#0b62a4", Dark: "#6cb6ff"}
	cSelBg   = lipgloss.AdaptiveColor{Light: "#d9d2f7", Dark: "#3b3358"}
	cMatchBg = lipgloss.AdaptiveColor{Light: "#ffe08a", Dark: "#6b5a00"}
	cCurBg   = lipgloss.AdaptiveColor{Light: "#ffb36b", Dark: "#a85a00"}

	servicePalette = []lipgloss.AdaptiveColor{
		{Light: "#0b62a4", Dark: "#6cb6ff"},
		{Light: "#1f7a33", Dark: "#5fd78a"},
		{Light: "#946200", Dark: "#f2c14e"},
		{Light: "#8a2be2", Dark: "#c792ea"},
		{Light: "#00838f", Dark: "#4dd0e1"},
		{Light: "#c2185b", Dark: "#f48fb1"},
		{Light: "#5d4037", Dark: "#d7a98c"},
		{Light: "#33691e", Dark: "#aed581"},
		{Light: "#283593", Dark: "#9fa8da"},
		{Light: "#bf360c", Dark: "#ffab91"},
	}
)

// NewTheme makes the theme from a renderer (lipgloss.NewRenderer(output)).
func NewTheme(r *lipgloss.Renderer) Theme {
	s := func() lipgloss.Style { return r.NewStyle() }
	// Resolve every colour once, for this terminal's background and
	// profile: lipgloss would otherwise convert a hex colour to the
	// nearest 256-colour entry on every render (a few % of CPU when logs
	// pour in).
	dark := r.HasDarkBackground()
	profile := r.ColorProfile()
	fix := func(c lipgloss.AdaptiveColor) lipgloss.TerminalColor {
		hex := c.Light
		if dark {
			hex = c.Dark
		}
		switch tc := profile.Color(hex).(type) {
		case termenv.RGBColor:
			return lipgloss.Color(string(tc))
		case termenv.ANSI256Color:
			return lipgloss.Color(strconv.Itoa(int(tc)))
		case termenv.ANSIColor:
			return lipgloss.Color(strconv.Itoa(int(tc)))
		}
		return lipgloss.NoColor{}
	}
	cText, cDim, cAccent, cGood, cWarn, cBad, cInfo := fix(cText), fix(cDim), fix(cAccent), fix(cGood), fix(cWarn), fix(cBad), fix(cInfo)
	cSelBg, cMatchBg, cCurBg := fix(cSelBg), fix(cMatchBg), fix(cCurBg)
	t := Theme{
		Title:        s().Bold(true).Foreground(cAccent),
		HeaderInfo:   s().Foreground(cText),
		Tab:          s().Foreground(cDim),
		TabActive:    s().Bold(true).Foreground(cAccent).Underline(true),
		ColumnHeader: s().Bold(true).Foreground(cDim),
		Selected:     s().Background(cSelBg).Foreground(cText),
		Dim:          s().Foreground(cDim),
		Bold:         s().Bold(true),
		Good:         s().Foreground(cGood),
		Warn:         s().Foreground(cWarn),
		Bad:          s().Foreground(cBad),
		Info:         s().Foreground(cInfo),
		Banner:       s().Bold(true).Foreground(cBad),
		BannerWarn:   s().Bold(true).Foreground(cWarn),
		StatusInfo:   s().Foreground(cInfo),
		StatusError:  s().Bold(true).Foreground(cBad),
		StatusOK:     s().Foreground(cGood),
		StatusWarn:   s().Foreground(cWarn),
		Prompt:       s().Bold(true).Foreground(cWarn),
		Match:        s().Background(cMatchBg),
		CurrentMatch: s().Background(cCurBg).Bold(true),
		Section:      s().Bold(true).Foreground(cAccent),
		Label:        s().Foreground(cDim),
		BarUsed:      s().Foreground(cAccent),
		BarReserved:  s().Foreground(cWarn),
		BarFree:      s().Foreground(cDim),
		Spark:        s().Foreground(cInfo),
	}
	for _, c := range servicePalette {
		t.Services = append(t.Services, s().Foreground(fix(c)))
	}
	key := s().Foreground(cAccent)
	desc := s().Foreground(cDim)
	sep := s().Foreground(cDim)
	t.Help = help.Styles{
		Ellipsis: sep, ShortKey: key, ShortDesc: desc, ShortSeparator: sep,
		FullKey: key, FullDesc: desc, FullSeparator: sep,
	}
	return t
}

// serviceStyle is a stable colour per service name.
func (t Theme) serviceStyle(service string) lipgloss.Style {
	return t.Services[serviceColour(service, len(t.Services))]
}

func serviceColour(service string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(service))
	return int(h.Sum32() % uint32(n))
}
