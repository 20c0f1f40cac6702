// Package ui is the interactive console (SPEC §4): a Bubble Tea program
// whose root model owns a stack of screens, one file per screen.
package ui

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

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
	p := tea.NewProgram(m, tea.WithAltScreen())
	// A hang-up (the terminal closed: the operator's SSH link dropped)
	// would kill the process by default, in the middle of a rotation the
	// console started. Instead the console ends, and the caller lets
	// running rotations finish before the process exits; later hang-ups
	// are ignored while it does.
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-hangup:
			p.Kill()
		case <-done:
		}
	}()
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) {
		return errors.New("the terminal hung up; running rotations finish before exit")
	}
	return err
}
