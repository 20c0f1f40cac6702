// Package ui is the interactive console.
package ui

import (
	"fmt"

	"kmsconsole/service"
)

// Run opens the console on svc.
func Run(svc *service.Service) error {
	return fmt.Errorf("the console is not built yet")
}
