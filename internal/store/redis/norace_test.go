//go:build !race

package redis

// slowdown scales the latency bounds of tests: 1 without the race detector.
const slowdown = 1
