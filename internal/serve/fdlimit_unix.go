//go:build unix

package serve

import "syscall"

// openFileLimit returns the process's open file limit, 0 when unknown.
func openFileLimit() int {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur > 1<<30 {
		return 0
	}
	return int(l.Cur)
}
