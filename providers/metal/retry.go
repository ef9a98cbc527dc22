package metal

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// retryTransport retries what the Metal API asks to be retried: 429 Too Many Requests
// (the API's rate limit: nothing was done), for any method, after the Retry-After the
// answer gives or an exponential backoff with jitter; and 502, 503 and 504 for the methods
// that are safe to repeat (GET, DELETE). A POST that met a server error is not repeated:
// the device may exist, and the next run finds it by its launch tag.
type retryTransport struct {
	next        http.RoundTripper
	maxAttempts int
	maxBackoff  time.Duration
}

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, errNoReplay
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil || attempt >= t.maxAttempts || !t.retryable(req.Method, resp.StatusCode) {
			return resp, err
		}
		wait := t.backoff(attempt, resp.Header.Get("Retry-After"))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func (t retryTransport) retryable(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return method == http.MethodGet || method == http.MethodDelete
	}
	return false
}

// backoff is the Retry-After in seconds when the answer gives one (capped), else
// 1s, 2s, 4s… with jitter, capped.
func (t retryTransport) backoff(attempt int, retryAfter string) time.Duration {
	if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, t.maxBackoff)
	}
	d := time.Second << min(attempt-1, 10)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return min(d, t.maxBackoff)
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
