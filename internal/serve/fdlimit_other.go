//go:build !unix

package serve

// openFileLimit returns 0: the limit is unknown here.
func openFileLimit() int { return 0 }
