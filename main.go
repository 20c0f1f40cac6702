// Command kmsconsole is a Secrets Manager console for machines you run
// yourself. The process is wired in package app.
package main

import (
	"os"

	"kmsconsole/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
