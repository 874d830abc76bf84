// Package redistest starts real redis-server processes on loopback ports for
// integration tests: a standalone server, or a cluster of masters made with
// redis-cli --cluster create. Programs are found with testenv.LookPath, so
// a missing redis-server skips locally and fails in CI.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/testenv"
)

// Server is one redis-server process. Kill and Restart simulate an outage.
type Server struct {
	Addr string
	path string
	args []string
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs a standalone redis-server on a free loopback port; the test's
// cleanup stops it.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	path := testenv.LookPath(t, "redis-server")
	s := newServer(t, path, extra)
	s.start(t)
	return s
}

func newServer(t testing.TB, path string, extra []string) *Server {
	port := freePort(t)
	dir := t.TempDir()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning",
	}, extra...)
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), path: path, args: args, dir: dir}
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	cmd := exec.Command(s.path, s.args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatalf("redis-server: %v", err)
	}
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := Command(s.Addr, "PING"); err == nil && reply == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer PING", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would. It is safe to
// call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Pause stops the process (SIGSTOP): connections stay open and nothing
// answers, as with a hung server. Resume continues it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Restart starts a killed server again on the same port, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t)
}

// StartCluster runs masters cluster-enabled redis-servers and joins them
// with redis-cli --cluster create (no replicas); it returns once every
// node reports cluster_state:ok.
func StartCluster(t testing.TB, masters int) []*Server {
	t.Helper()
	path := testenv.LookPath(t, "redis-server")
	cli := testenv.LookPath(t, "redis-cli")
	servers := make([]*Server, masters)
	addrs := make([]string, masters)
	for i := range servers {
		servers[i] = newServer(t, path, []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000"})
		servers[i].start(t)
		addrs[i] = servers[i].Addr
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range servers {
		for {
			info, err := Command(s.Addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok: %v %s", s.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return servers
}

// StartSentinel runs a Sentinel (redis-server --sentinel) watching master
// under the name "mymaster" and returns once it reports the master.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	path := testenv.LookPath(t, "redis-server")
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	_, mport, _ := net.SplitHostPort(master.Addr)
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %s 1\n", port, dir, mport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), path: path, args: []string{conf, "--sentinel"}, dir: dir}
	t.Cleanup(s.Kill)
	s.start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := Command(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"); err == nil || reply != "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("sentinel does not know the master")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addrs returns the servers' addresses.
func Addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr
	}
	return out
}

// Command sends one command to addr and returns a simple or bulk string
// reply (an error reply is an error). It is for setting up and checking
// servers, not for the code under test.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"), strings.HasPrefix(line, ":"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line, nil
}

// freePort returns a loopback port that is free, and whose cluster bus
// port (port+10000) is free too.
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(30000)
		if portFree(p) && portFree(p+10000) {
			return p
		}
	}
	t.Fatal("no free loopback port")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
