package ec2

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestRequestBodyClosedByTheSDKStillDrainsCleanly replays, step by step, the race behind
// the "use of closed network connection" failures: smithy-go builds the request body
// (as for every SDK call), the server answers, smithy-go closes the body, and only then
// does net/http's Transport read the body once more to check for extra bytes (io.Copy
// into io.Discard, transfer.go writeBody). That read must end cleanly: an error makes the
// Transport close the connection under the response.
func TestRequestBodyClosedByTheSDKStillDrainsCleanly(t *testing.T) {
	const form = "Action=DescribeInstances&Version=2016-11-15"
	sreq := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	sreq.Method = http.MethodPost
	sreq.URL = &url.URL{Scheme: "http", Host: "127.0.0.1", Path: "/"}
	sreq, err := sreq.SetStream(strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	sreq.ContentLength = int64(len(form))
	built := sreq.Build(context.Background())

	var sent *http.Request
	c := bodyGuard{next: doFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		// The Transport writes Content-Length bytes; the server has them and answers.
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, r.ContentLength)); err != nil {
			t.Fatal(err)
		}
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}, nil
	})}
	if _, err := c.Do(built); err != nil {
		t.Fatal(err)
	}
	_ = built.Body.Close() // what smithy-go does once Do returns
	if _, err := io.Copy(io.Discard, sent.Body); err != nil {
		t.Fatalf("the Transport's last read of the closed body fails (%v): it would close the connection under the response", err)
	}
}

func TestEveryClientSendsThroughTheBodyGuard(t *testing.T) {
	f := newFakeAWS(t)
	c, err := f.provider().clients(context.Background(), fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	for name, hc := range map[string]any{"ec2": c.ec2.Options().HTTPClient, "s3": c.s3.Options().HTTPClient, "ssm": c.ssm.Options().HTTPClient} {
		if _, ok := hc.(bodyGuard); !ok {
			t.Errorf("the %s client sends through %T, not bodyGuard", name, hc)
		}
	}
}
