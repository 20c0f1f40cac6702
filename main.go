// Command kmsconsole is a Secrets Manager console for machines you run
// yourself. main only wires the command line to the packages that do the work.
package main

import (
	"fmt"
	"os"

	"kmsconsole/cli"
	"kmsconsole/serve"
	"kmsconsole/ui"
)

func main() {
	// Before any key or value is in memory: no core dumps, not dumpable.
	if err := serve.HardenProcess(); err != nil {
		fmt.Fprintf(os.Stderr, "kmsconsole: %v\n", err)
		os.Exit(1)
	}
	env := &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Console: ui.Run, Serve: serve.Command}
	os.Exit(cli.Run(os.Args[1:], env))
}
