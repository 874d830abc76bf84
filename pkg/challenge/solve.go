package challenge

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxDifficulty is the difficulty a zero Solver will solve up to:
// about 16 million hashes expected, several seconds on one core.
const DefaultMaxDifficulty = 24

// Solver finds nonces. The zero Solver solves up to DefaultMaxDifficulty
// on up to four cores.
type Solver struct {
	// MaxDifficulty is the hardest challenge the solver takes on; a harder
	// one fails at once with a *TooHardError. 0 means
	// DefaultMaxDifficulty.
	MaxDifficulty int
	// Workers is how many goroutines search at once; 0 means
	// min(GOMAXPROCS, 4).
	Workers int
}

// Stats is the cost of one solve.
type Stats struct {
	Hashes  uint64        // hashes computed, by all workers
	Elapsed time.Duration // wall time
}

// TooHardError is returned for a challenge above the solver's
// MaxDifficulty.
type TooHardError struct{ Difficulty, Max int }

func (e *TooHardError) Error() string {
	return fmt.Sprintf("challenge: difficulty %d is above the solver's maximum %d", e.Difficulty, e.Max)
}

// Solve finds a nonce for c. It returns a *TooHardError without work for
// a challenge above MaxDifficulty, and ctx's error when ctx ends first;
// Stats counts the work done either way. Expected work is 2^Difficulty
// hashes.
func (s Solver) Solve(ctx context.Context, c Challenge) (Solution, Stats, error) {
	max := s.MaxDifficulty
	if max <= 0 {
		max = DefaultMaxDifficulty
	}
	if c.Difficulty > max || c.Difficulty > MaxDifficulty {
		return Solution{}, Stats{}, &TooHardError{Difficulty: c.Difficulty, Max: max}
	}
	if !ValidToken(c.Token) {
		return Solution{}, Stats{}, syntaxError("token is not 1 to %d base64url characters", MaxTokenLen)
	}
	workers := s.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	if c.Difficulty <= 8 { // about 256 hashes: not worth a goroutine
		workers = 1
	}
	start := time.Now()
	var (
		found  atomic.Bool
		nonce  atomic.Uint64
		hashes atomic.Uint64
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, ok, done := search(ctx, c.Token, c.Difficulty, uint64(w), uint64(workers), &found)
			hashes.Add(done)
			if ok && found.CompareAndSwap(false, true) {
				nonce.Store(n)
			}
		}()
	}
	wg.Wait()
	st := Stats{Hashes: hashes.Load(), Elapsed: time.Since(start)}
	if !found.Load() {
		if err := ctx.Err(); err != nil {
			return Solution{}, st, err
		}
		return Solution{}, st, fmt.Errorf("challenge: no nonce found") // 2^64 nonces tried
	}
	return Solution{Token: c.Token, Nonce: nonce.Load()}, st, nil
}

// search tries nonces first, first+step, ... until one solves token, stop
// is set, or ctx ends; it returns the nonce, whether it solves, and the
// hashes computed.
func search(ctx context.Context, token string, difficulty int, first, step uint64, stop *atomic.Bool) (uint64, bool, uint64) {
	buf := make([]byte, 0, len(token)+1+20)
	buf = append(buf, token...)
	buf = append(buf, ':')
	prefix := len(buf)
	var done uint64
	for n := first; ; n += step {
		sum := sha256.Sum256(strconv.AppendUint(buf[:prefix], n, 10))
		done++
		if LeadingZeroBits(&sum) >= difficulty {
			return n, true, done
		}
		if done&4095 == 0 && (stop.Load() || ctx.Err() != nil) {
			return 0, false, done
		}
		if n > ^uint64(0)-step {
			return 0, false, done
		}
	}
}
