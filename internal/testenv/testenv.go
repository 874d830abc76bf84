// Package testenv finds the real programs integration tests run against
// (nginx, caddy, redis-server, promtool, chromium, ...). Locally a missing
// program skips the test; in CI (CI is set) it fails it, so that a test
// never passes in CI by not running.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// LookPath returns the path of the program name. When it is not installed
// the test is skipped, or, with CI set in the environment, failed.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run must install it: %v", name, err)
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}

// CI reports whether the tests run in CI.
func CI() bool { return os.Getenv("CI") != "" }
