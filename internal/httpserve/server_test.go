package httpserve_test

import (
	"bytes"
	"net"
	"net/http"
	"testing"

	"github.com/kisgen/kisgen/internal/httpserve"
	"github.com/kisgen/kisgen/internal/httpserve/httpservetest"
)

func TestServerLimits(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, httpservetest.BigSize)
	h := http.NewServeMux()
	h.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	h.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		for off := 0; off < len(big); off += 32 << 10 { // as io.Copy writes a file
			if _, err := w.Write(big[off : off+32<<10]); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserve.New(h, httpservetest.Limits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	httpservetest.CheckLimits(t, ln.Addr().String(), "/small", "/big")
}
