// Package siem ships security events to a SIEM: a bounded queue in front
// of a sink (RFC 5424 syslog over UDP, TCP or TLS; a batching webhook), so
// that a slow or dead SIEM never blocks a request: when the queue is full
// the event is dropped and counted.
package siem

import (
	"sync"
	"sync/atomic"
	"time"
)

// Sink delivers batches of event lines (each one JSON document, without
// its newline). Send is called from one goroutine at a time.
type Sink interface {
	Send(batch [][]byte) error
	Close() error
}

// QueueOptions configures a Queue; zero fields get defaults.
type QueueOptions struct {
	Size     int           // lines held at most (default 10000)
	Batch    int           // lines per Send at most (default 100)
	Interval time.Duration // longest wait before a partial batch is sent (default 1s)
}

// Queue is an io.Writer of event lines that a background goroutine
// delivers to a Sink in batches. Write never blocks: when the queue is
// full the line is dropped and counted. It is safe for concurrent use.
type Queue struct {
	sink  Sink
	opts  QueueOptions
	lines chan []byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	dropped, sent, failed atomic.Uint64
}

// NewQueue starts delivering to sink.
func NewQueue(sink Sink, o QueueOptions) *Queue {
	if o.Size <= 0 {
		o.Size = 10_000
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	q := &Queue{sink: sink, opts: o, lines: make(chan []byte, o.Size), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// Write queues one line (a trailing newline is dropped); it copies p. It
// always returns len(p), nil: a line the full queue cannot hold is counted
// in Dropped, never an error for the caller on the request path.
func (q *Queue) Write(p []byte) (int, error) {
	n := len(p)
	if n > 0 && p[n-1] == '\n' {
		p = p[:n-1]
	}
	line := append([]byte(nil), p...)
	select {
	case q.lines <- line:
	default:
		q.dropped.Add(1)
	}
	return n, nil
}

// Stats are a Queue's counters.
type Stats struct {
	Dropped uint64 // lines dropped because the queue was full
	Sent    uint64 // lines the sink accepted
	Failed  uint64 // lines in batches the sink refused (after its retries)
	Queued  int    // lines waiting now
}

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	return Stats{Dropped: q.dropped.Load(), Sent: q.sent.Load(), Failed: q.failed.Load(), Queued: len(q.lines)}
}

func (q *Queue) run() {
	defer close(q.done)
	t := time.NewTicker(q.opts.Interval)
	defer t.Stop()
	batch := make([][]byte, 0, q.opts.Batch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := q.sink.Send(batch); err != nil {
			q.failed.Add(uint64(len(batch)))
		} else {
			q.sent.Add(uint64(len(batch)))
		}
		batch = batch[:0]
	}
	for {
		select {
		case line := <-q.lines:
			batch = append(batch, line)
			if len(batch) == q.opts.Batch {
				flush()
			}
		case <-t.C:
			flush()
		case <-q.stop:
			for {
				select {
				case line := <-q.lines:
					batch = append(batch, line)
					if len(batch) == q.opts.Batch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// Close delivers what is queued, then closes the sink.
func (q *Queue) Close() error {
	q.once.Do(func() { close(q.stop) })
	<-q.done
	return q.sink.Close()
}
