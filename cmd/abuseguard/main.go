// Command abuseguard protects an API from abuse. See `abuseguard --help`.
package main

import (
	"os"

	"github.com/abuseguard/abuseguard/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr))
}
