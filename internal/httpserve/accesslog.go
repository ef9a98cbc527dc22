package httpserve

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kisgen/kisgen/internal/report"
)

// Recorder remembers a response's status and size for the access log.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// NewRecorder wraps w; the status is 200 until the handler writes another.
func NewRecorder(w http.ResponseWriter) *Recorder {
	return &Recorder{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader records the status.
func (r *Recorder) WriteHeader(code int) {
	r.Status = code
	r.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written.
func (r *Recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection beneath.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// AccessLine is the access log line of a request that started at t0: time, client,
// method, path, status, bytes, duration. The path is escaped: a client can put any byte
// in it (%1b is ESC), and the log goes to a terminal.
func AccessLine(t0 time.Time, req *http.Request, rec *Recorder) string {
	return fmt.Sprintf("%s %s %s %s %d %dB %s\n", t0.UTC().Format(time.RFC3339), req.RemoteAddr, report.Escape(req.Method), report.Escape(req.URL.Path),
		rec.Status, rec.Bytes, time.Since(t0).Round(time.Millisecond))
}
