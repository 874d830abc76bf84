// Package conncap caps the connections a listener keeps open, in total and
// per client address, so that a client holding connections open (slow
// bodies, idle keep-alives) cannot take every file descriptor. At the
// total cap the client holding the most connections loses its oldest one
// to a client holding fewer: the clients kept are the least risky by the
// one measure a listener has.
package conncap

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Options configures a Listener. Zero fields mean no cap.
type Options struct {
	Max          int // open connections in total
	MaxPerClient int // open connections per client address
	// Refused, when set, is called for each connection closed at a cap,
	// with "per_client", "total" or "evicted" (an older connection of the
	// client holding the most, closed to admit a newer client).
	Refused func(reason string)
}

// Listener wraps a net.Listener and enforces Options. Accept never returns
// a connection over a cap; it closes it and waits for the next one.
type Listener struct {
	net.Listener
	opts Options

	mu      sync.Mutex
	clients map[netip.Addr]*client
	open    int
}

// client is one address's open connections, oldest first.
type client struct {
	conns []*conn
}

// Stats are a Listener's counts.
type Stats struct {
	Open    int // connections open now
	Clients int // client addresses with an open connection
}

// New wraps ln.
func New(ln net.Listener, opts Options) *Listener {
	return &Listener{Listener: ln, opts: opts, clients: map[netip.Addr]*client{}}
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc, ok := l.admit(c); ok {
			return cc, nil
		}
	}
}

// admit registers c, or closes it (or another client's oldest connection)
// at a cap.
func (l *Listener) admit(c net.Conn) (net.Conn, bool) {
	ip := addrOf(c.RemoteAddr())
	l.mu.Lock()
	cl := l.clients[ip]
	held := 0
	if cl != nil {
		held = len(cl.conns)
	}
	if l.opts.MaxPerClient > 0 && held >= l.opts.MaxPerClient {
		l.mu.Unlock()
		c.Close()
		l.refused("per_client")
		return nil, false
	}
	var evict *conn
	if l.opts.Max > 0 && l.open >= l.opts.Max {
		hog := l.hog()
		if hog == nil || len(hog.conns) <= held+1 {
			l.mu.Unlock()
			c.Close()
			l.refused("total")
			return nil, false
		}
		evict = hog.conns[0]
		l.removeLocked(evict)
	}
	if cl == nil {
		cl = &client{}
		l.clients[ip] = cl
	}
	cc := &conn{Conn: c, l: l, ip: ip}
	cl.conns = append(cl.conns, cc)
	l.open++
	l.mu.Unlock()
	if evict != nil {
		evict.Conn.Close()
		l.refused("evicted")
	}
	return cc, true
}

// hog returns the client holding the most connections.
func (l *Listener) hog() *client {
	var top *client
	for _, cl := range l.clients {
		if top == nil || len(cl.conns) > len(top.conns) {
			top = cl
		}
	}
	return top
}

// removeLocked forgets c; it reports false when c was already gone.
func (l *Listener) removeLocked(c *conn) bool {
	if !c.removed.CompareAndSwap(false, true) {
		return false
	}
	cl := l.clients[c.ip]
	for i, o := range cl.conns {
		if o == c {
			cl.conns = append(cl.conns[:i], cl.conns[i+1:]...)
			break
		}
	}
	if len(cl.conns) == 0 {
		delete(l.clients, c.ip)
	}
	l.open--
	return true
}

// Stats returns the current counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.open, Clients: len(l.clients)}
}

func (l *Listener) refused(reason string) {
	if l.opts.Refused != nil {
		l.opts.Refused(reason)
	}
}

// conn releases its place when closed.
type conn struct {
	net.Conn
	l       *Listener
	ip      netip.Addr
	removed atomic.Bool
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.removeLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

var _ net.Listener = (*Listener)(nil)
