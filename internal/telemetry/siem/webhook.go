package siem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WebhookOptions configures a Webhook sink.
type WebhookOptions struct {
	URL     string
	Header  http.Header   // added to every request (an Authorization, say)
	Client  *http.Client  // default: a client with a 10s timeout
	Retries int           // attempts after the first (default 3)
	Backoff time.Duration // wait before the first retry, doubled each time (default 500ms)
	// Sleep waits between attempts (default: a timer); tests inject one.
	Sleep func(time.Duration)
}

// Webhook POSTs each batch as newline-delimited JSON
// (application/x-ndjson). A batch refused with a 5xx, a 429 or a network
// error is retried with exponential backoff; a 4xx is not.
type Webhook struct{ o WebhookOptions }

// NewWebhook returns a Webhook sink.
func NewWebhook(o WebhookOptions) *Webhook {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Sleep == nil {
		o.Sleep = time.Sleep
	}
	return &Webhook{o: o}
}

// Send posts the batch, retrying as above.
func (w *Webhook) Send(batch [][]byte) error {
	body := bytes.Join(batch, []byte{'\n'})
	body = append(body, '\n')
	wait := w.o.Backoff
	var err error
	for attempt := 0; attempt <= w.o.Retries; attempt++ {
		if attempt > 0 {
			w.o.Sleep(wait)
			wait *= 2
		}
		var retry bool
		if retry, err = w.post(body); err == nil || !retry {
			return err
		}
	}
	return err
}

func (w *Webhook) post(body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook: %w", err)
	}
	for k, vs := range w.o.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("webhook: %s", resp.Status)
	}
	return false, fmt.Errorf("webhook: %s (not retried)", resp.Status)
}

// Close does nothing: a Webhook holds no connection of its own.
func (w *Webhook) Close() error { return nil }

var _ Sink = (*Webhook)(nil)
