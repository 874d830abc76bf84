package conncap

import (
	"net"
	"sync"
	"testing"
	"time"
)

// harness accepts on a capped loopback listener and keeps what it accepts.
type harness struct {
	l        *Listener
	mu       sync.Mutex
	refusals map[string]int
	accepted chan net.Conn
}

func newHarness(t *testing.T, opts Options) *harness {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{refusals: map[string]int{}, accepted: make(chan net.Conn, 64)}
	opts.Refused = func(r string) { h.mu.Lock(); h.refusals[r]++; h.mu.Unlock() }
	h.l = New(ln, opts)
	go func() {
		for {
			c, err := h.l.Accept()
			if err != nil {
				return
			}
			h.accepted <- c
		}
	}()
	t.Cleanup(func() { h.l.Close() })
	return h
}

// dial connects from the loopback address src and reports whether the
// connection stays open (it was admitted) for a moment.
func (h *harness) dial(t *testing.T, src string) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", h.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// count returns how many connections were refused for reason, waiting a
// moment for a refusal the listener is still recording.
func (h *harness) count(reason string, want int) int {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		h.mu.Lock()
		n := h.refusals[reason]
		h.mu.Unlock()
		if n == want || time.Now().After(deadline) {
			return n
		}
	}
}

// closed reports whether the server closed c within a short wait.
func closed(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestPerClientCap(t *testing.T) {
	h := newHarness(t, Options{MaxPerClient: 2})
	a1, a2, a3 := h.dial(t, "127.0.0.2"), h.dial(t, "127.0.0.2"), h.dial(t, "127.0.0.2")
	b1 := h.dial(t, "127.0.0.3")
	if closed(a1) || closed(a2) || closed(b1) {
		t.Fatal("a connection within the cap was closed")
	}
	if !closed(a3) {
		t.Fatal("a third connection from one client stayed open")
	}
	if n := h.count("per_client", 1); n != 1 {
		t.Errorf("%d per_client refusals, want 1", n)
	}
	(<-h.accepted).Close() // a client closing one frees its place
	if a4 := h.dial(t, "127.0.0.2"); closed(a4) {
		t.Error("a connection after one closed was refused")
	}
}

func TestTotalCapEvictsTheHog(t *testing.T) {
	h := newHarness(t, Options{Max: 4})
	hog := []net.Conn{h.dial(t, "127.0.0.2"), h.dial(t, "127.0.0.2"), h.dial(t, "127.0.0.2")}
	other := h.dial(t, "127.0.0.3")
	for range 4 {
		<-h.accepted
	}
	if st := h.l.Stats(); st.Open != 4 || st.Clients != 2 {
		t.Fatalf("stats %+v", st)
	}
	newcomer := h.dial(t, "127.0.0.4") // the hog's oldest goes
	if closed(newcomer) || closed(other) {
		t.Fatal("a client with few connections was refused at the cap")
	}
	if !closed(hog[0]) || closed(hog[1]) || closed(hog[2]) {
		t.Fatal("want the hog's oldest connection closed, and only that")
	}
	// Now 127.0.0.2 holds 2, .3 and .4 one each: a second connection from
	// .3 would hold 2, no fewer than the hog, so it is refused.
	if again := h.dial(t, "127.0.0.3"); !closed(again) {
		t.Fatal("a client that would hold as many as the hog was admitted at the cap")
	}
	if e, n := h.count("evicted", 1), h.count("total", 1); e != 1 || n != 1 {
		t.Errorf("%d evicted, %d total refusals; want 1 and 1", e, n)
	}
}
