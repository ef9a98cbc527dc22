package render

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"sync"

	"github.com/kisgen/kisgen/plan"
)

// AWSUserDataLimit is EC2's limit on user-data, in bytes before base64 encoding.
const AWSUserDataLimit = 16384

// Sizes of one node's user-data, in bytes.
type Sizes struct {
	Raw        int `json:"raw"`
	Gzip       int `json:"gzip"`
	Base64     int `json:"base64"`
	GzipBase64 int `json:"gzipBase64"`
}

// Budget is a provider's limit on user-data.
type Budget struct {
	Provider string `json:"provider"`
	Bytes    int    `json:"bytes"`
	// Measure is what counts against the limit: "gzip" when the node's user-data reader
	// accepts gzip (cloud-init), "raw" otherwise (Ignition reads only plain JSON from
	// EC2 user-data).
	Measure string `json:"measure"`
}

// BudgetFor returns the user-data budget of the plan's provider for a format, if it has
// one. Only EC2 limits user-data this tightly, and only when the user-data goes inline
// (provider.aws.secrets: inline): with s3 or ssm the EC2 provider hands the instance a
// small stub that fetches the real user-data with the instance role. vSphere guestinfo,
// qemu seed images, Packet and PXE take far more than a node needs.
func BudgetFor(p *plan.Plan, f plan.Format) (Budget, bool) {
	if p.Provider.Name != "aws" || (p.Provider.AWS.Secrets != "" && p.Provider.AWS.Secrets != "inline") {
		return Budget{}, false
	}
	if f == plan.FormatIgnition {
		return Budget{Provider: "aws", Bytes: AWSUserDataLimit, Measure: "raw"}, true
	}
	return Budget{Provider: "aws", Bytes: AWSUserDataLimit, Measure: "gzip"}, true
}

// CheckBudget reports every node whose user-data is over its provider's budget, naming
// the node, its size and what to do.
func CheckBudget(p *plan.Plan, nodes []NodeResult) error {
	var errs []error
	for _, n := range nodes {
		b, ok := BudgetFor(p, n.Format)
		if !ok {
			continue
		}
		size := n.Sizes.Raw
		if b.Measure == "gzip" {
			size = n.Sizes.Gzip
		}
		if size <= b.Bytes {
			continue
		}
		remedy := "set provider.aws.secrets: s3 (with secrets_bucket and instance_profile): the instance then boots from a small stub " +
			"and Ignition fetches this config from S3 with the instance role"
		if b.Measure == "gzip" {
			remedy = "set provider.aws.secrets: s3 or ssm (with instance_profile): the instance then boots from a small stub " +
				"that fetches this user-data with the instance role, which also keeps its private keys out of the instance metadata"
		}
		if p.Network.UpdateHostsFiles {
			remedy += "; turning off cluster.networking.update_hosts_files (use DNS) removes the hosts block, which grows with every node"
		}
		errs = append(errs, fmt.Errorf("%w: %s: %s user-data is %d bytes (%s), over %s's %d-byte limit by %d: %s",
			ErrTooBig, n.Host, n.Format, size, b.Measure, b.Provider, b.Bytes, size-b.Bytes, remedy))
	}
	return errors.Join(errs...)
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
	return w
}}

// Gzip compresses data deterministically: no name, no modification time, best
// compression. cloud-init reads gzip user-data as is.
func Gzip(data []byte) []byte {
	var b bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&b)
	_, _ = w.Write(data)
	_ = w.Close()
	gzipWriters.Put(w)
	return b.Bytes()
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }

func measure(data []byte) Sizes {
	gz := len(Gzip(data))
	return Sizes{Raw: len(data), Gzip: gz, Base64: base64Len(len(data)), GzipBase64: base64Len(gz)}
}
