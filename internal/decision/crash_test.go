package decision

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// writerEnv makes the test binary a decision writer (see
// TestKill9DuringWrites): the path of the database to write to.
const writerEnv = "ABUSEGUARD_TEST_DECISION_WRITER"

// TestKill9DuringWrites kills a process with SIGKILL while it records
// decisions as fast as it can, 20 times over one database file. The
// writer prints a decision's value only after Add returned (the decision
// was acknowledged); after each kill the file must open (not corrupt) and
// hold every acknowledged decision.
func TestKill9DuringWrites(t *testing.T) {
	if path := os.Getenv(writerEnv); path != "" {
		writeForever(t, path, os.Getenv(writerEnv+"_ROUND"))
		return
	}
	if testing.Short() {
		t.Skip("20 child processes; skipped with -short")
	}
	path := filepath.Join(t.TempDir(), "decisions.db")
	var acked []string
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringWrites$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+path, fmt.Sprintf("%s_ROUND=%d", writerEnv, round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 20 + round*37%200 // acknowledgements before the kill
		sc := bufio.NewScanner(out)
		n := 0
		killed := false
		deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked = append(acked, v)
				if n++; n == killAt && !killed {
					_ = cmd.Process.Kill() // SIGKILL, mid-write more often than not
					killed = true
				}
			}
		}
		deadline.Stop()
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: the writer stopped after %d acknowledgements", round, n)
		}
		s, err := Open(Options{Path: path})
		if err != nil {
			t.Fatalf("round %d: the database does not open after SIGKILL: %v", round, err)
		}
		lost := 0
		now := time.Now()
		for _, v := range acked {
			if len(s.ForEntity(verdict.ScopeIP, v, now)) == 0 {
				lost++
			}
		}
		s.Close()
		if lost > 0 {
			t.Fatalf("round %d: %d of %d acknowledged decisions lost", round, lost, len(acked))
		}
	}
	t.Logf("20 rounds of SIGKILL during writes: %d acknowledged decisions, 0 lost, the database opened every time", len(acked))
}

// writeForever records decisions on distinct addresses, printing each
// one's value once Add has returned, until it is killed.
func writeForever(t *testing.T, path, round string) {
	s, err := Open(Options{Path: path, MaxTTL: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		v := fmt.Sprintf("10.%s.%d.%d", round, i/250%250, 1+i%250)
		d := probing(v, time.Now())
		d.Expires = time.Now().Add(time.Hour)
		if _, _, err := s.Add(d); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(2)
		}
		fmt.Println("ack", v)
	}
}
