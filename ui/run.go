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
	m := New(svc, Options{Renderer: lipgloss.NewRenderer(os.Stdout)})
	_, err := tea.NewProgram(m, tea.WithAltScreen()).Run()
	return err
}
