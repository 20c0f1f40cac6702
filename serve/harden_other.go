//go:build !unix

package serve

// HardenProcess does nothing where there are no core limits to set.
func HardenProcess() error { return nil }
