// Command kmsconsole is a Secrets Manager console for machines you run
// yourself. main only wires the command line to the packages that do the work.
package main

import (
	"os"

	"kmsconsole/cli"
	"kmsconsole/serve"
	"kmsconsole/ui"
)

func main() {
	env := &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Console: ui.Run, Serve: serve.Command}
	os.Exit(cli.Run(os.Args[1:], env))
}
