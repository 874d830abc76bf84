package siem

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// SyslogOptions configures a Syslog sink.
type SyslogOptions struct {
	Network  string      // udp, tcp or tls
	Addr     string      // host:port
	TLS      *tls.Config // for tls (default: system roots, ServerName from Addr)
	AppName  string      // default abuseguard
	Hostname string      // default os.Hostname
	Facility int         // default 13 (log audit)
	Timeout  time.Duration
	Now      func() time.Time // the messages' timestamps (default time.Now)
}

// Syslog sends each line as one RFC 5424 message with severity notice:
// over UDP one datagram each, over TCP and TLS framed by octet counting
// (RFC 6587, RFC 5425). A broken connection is dialled again on the next
// batch.
type Syslog struct {
	o    SyslogOptions
	conn net.Conn
}

// NewSyslog returns a Syslog sink; it dials on first use.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	switch o.Network {
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("syslog: network %q is not udp, tcp or tls", o.Network)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return nil, fmt.Errorf("syslog: address %q: %w", o.Addr, err)
	}
	if o.AppName == "" {
		o.AppName = "abuseguard"
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
		if o.Hostname == "" {
			o.Hostname = "-"
		}
	}
	if o.Facility == 0 {
		o.Facility = 13
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Syslog{o: o}, nil
}

// Format returns line as an RFC 5424 message:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG.
func (s *Syslog) Format(line []byte, at time.Time) []byte {
	pri := s.o.Facility*8 + 5 // severity 5: notice
	b := fmt.Appendf(nil, "<%d>1 %s %s %s %d event - ", pri, at.UTC().Format(time.RFC3339Nano), s.o.Hostname, s.o.AppName, os.Getpid())
	return append(b, line...)
}

func (s *Syslog) dial() error {
	d := &net.Dialer{Timeout: s.o.Timeout}
	var err error
	switch s.o.Network {
	case "tls":
		cfg := s.o.TLS
		if cfg == nil {
			host, _, _ := net.SplitHostPort(s.o.Addr)
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		s.conn, err = tls.DialWithDialer(d, "tcp", s.o.Addr, cfg)
	default:
		s.conn, err = d.Dial(s.o.Network, s.o.Addr)
	}
	return err
}

// Send writes the batch; on an error the connection is dropped, to be
// dialled again next time.
func (s *Syslog) Send(batch [][]byte) error {
	if s.conn == nil {
		if err := s.dial(); err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
	}
	now := s.o.Now()
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.o.Timeout)) // the wall clock, whatever Now says
	var errs []error
	for _, line := range batch {
		msg := s.Format(line, now)
		if s.o.Network != "udp" {
			msg = append(strconv.AppendInt(nil, int64(len(msg)), 10), append([]byte{' '}, msg...)...)
		}
		if _, err := s.conn.Write(msg); err != nil {
			errs = append(errs, err)
			s.conn.Close()
			s.conn = nil
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	return s.conn.Close()
}

var _ Sink = (*Syslog)(nil)
