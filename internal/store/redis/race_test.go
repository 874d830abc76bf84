//go:build race

package redis

// slowdown scales the latency bounds of tests under the race detector,
// which runs this code several times slower (make test runs both).
const slowdown = 10
