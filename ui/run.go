// Package ui is the interactive console (SPEC §4): a Bubble Tea program
// whose root model owns a stack of screens, one file per screen.
package ui

import (
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"kmsconsole/service"
)

// Run opens the console on svc in the terminal (alt screen: no flicker, and
// the shell comes back untouched).
func Run(svc *service.Service) error {
	r := lipgloss.NewRenderer(os.Stdout)
	// The adaptive colours need the terminal's background. Ask now, before
	// Bubble Tea puts the terminal in raw mode and starts reading input:
	// asked lazily from the first View, the query raced the program's own
	// input reader for the answer and stalled the first frame for seconds.
	// The default renderer (used by bubbles' own styles) is told the same
	// answer instead of asking again.
	lipgloss.SetHasDarkBackground(r.HasDarkBackground())
	m := New(svc, Options{Renderer: r})
	_, err := tea.NewProgram(m, tea.WithAltScreen()).Run()
	return err
}
