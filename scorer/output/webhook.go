package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Webhook POSTs each batch as a JSON array to a URL. 5xx, 429 and network
// errors are retried with backoff by the dispatcher; other 4xx are not.
type Webhook struct {
	url     string
	headers map[string]string
	enc     Encoder
	client  *http.Client
}

// NewWebhook posts to url with extra headers (e.g. Authorization).
func NewWebhook(url string, headers map[string]string, enc Encoder, timeout time.Duration) *Webhook {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Webhook{url: url, headers: headers, enc: enc, client: &http.Client{Timeout: timeout}}
}

func (w *Webhook) Name() string { return "webhook:" + w.url }

func (w *Webhook) Write(ctx context.Context, batch []Record) error {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, r := range batch {
		b, err := w.enc.Encode(r)
		if err != nil {
			return Permanent(err)
		}
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(b)
	}
	body.WriteByte(']')
	return Post(ctx, w.client, w.url, w.headers, body.Bytes())
}

// Post sends one JSON body and classifies the answer for retries.
func Post(ctx context.Context, c *http.Client, url string, headers map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook %s: %w", url, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook %s: %s: %q", url, resp.Status, msg)
	default:
		return Permanent(fmt.Errorf("webhook %s: %s: %q", url, resp.Status, msg))
	}
}

func (w *Webhook) Close() error { return nil }
