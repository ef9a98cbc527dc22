package ec2

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// bodyGuard is the HTTP client every AWS client of the provider sends through: it hands
// net/http each request body with its Read and Close methods only.
//
// Why: smithy-go closes a request's body as soon as the response headers are in
// (ClientHandler.Handle, smithy-go transport/http/client.go), while net/http's Transport
// may still be writing the request. For a body it does not know to be in memory, the
// Transport flushes the headers first and copies the body straight to the socket, so the
// server holds the whole body, and may answer, before the Transport has read the body once
// more to check for bytes beyond Content-Length. That last read goes through the body's
// WriteTo, which smithy-go's closed body answers with io.EOF as an error (not as a clean
// end, as its Read does); the Transport takes the write as failed and closes the
// connection under the response being read, and the call fails on a 200 with "use of
// closed network connection". Without WriteTo, io.Copy reads, and a closed body reads as
// a clean end of file.
type bodyGuard struct{ next aws.HTTPClient }

// readCloser hides every method of a body but Read and Close.
type readCloser struct{ io.ReadCloser }

// Do implements aws.HTTPClient.
func (g bodyGuard) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req = req.WithContext(req.Context()) // a shallow copy: the caller's request is left as it is
		req.Body = readCloser{req.Body}
	}
	return g.next.Do(req)
}
