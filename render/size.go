package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/klauspost/compress/gzip"

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
	// Measure is what counts against the limit, as the EC2 provider sends user-data that
	// does not fit as it is: "gzip" for cloud-init (which decompresses gzip user-data),
	// "gzip+base64" for Ignition (which does not: the provider sends a small config that
	// replaces itself with the gzip-compressed original in a base64 data URL; counted
	// with IgnitionStubOverhead bytes for that config).
	Measure string `json:"measure"`
}

// IgnitionStubOverhead bounds the bytes of the Ignition config that wraps a compressed
// config in a data URL, besides the base64 text itself.
const IgnitionStubOverhead = 128

// Measured is the size of a node's user-data as its provider sends it: as it is when that
// fits, else compressed as Budget.Measure says.
func (b Budget) Measured(s Sizes) int {
	if s.Raw <= b.Bytes {
		return s.Raw
	}
	if b.Measure == "gzip" {
		return s.Gzip
	}
	return s.GzipBase64 + IgnitionStubOverhead
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
		return Budget{Provider: "aws", Bytes: AWSUserDataLimit, Measure: "gzip+base64"}, true
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
		size := b.Measured(n.Sizes)
		if size <= b.Bytes {
			continue
		}
		remedy := "set provider.aws.secrets: s3 (with secrets_bucket and instance_profile): the instance then boots from a small stub " +
			"and Ignition fetches this config from S3 with the instance role, which also keeps its private keys out of the instance metadata"
		if b.Measure == "gzip" {
			remedy = "set provider.aws.secrets: s3 or ssm (with instance_profile): the instance then boots from a small stub " +
				"that fetches this user-data with the instance role, which also keeps its private keys out of the instance metadata"
		}
		if p.PackageInstallation && p.Mirror.ChecksumsFile == "" {
			remedy += "; or keep it inline by letting the files every node shares (kisgen's scripts, add-on manifests) travel outside the user-data: " +
				"an image baked with `kisgen packer` and disable_package_installation: true, or a mirror built with `kisgen mirror build` (mirror.url and mirror.checksums)"
		}
		if p.Network.UpdateHostsFiles {
			remedy += "; turning off cluster.networking.update_hosts_files (use DNS) removes the hosts block, which grows with every node"
		}
		errs = append(errs, fmt.Errorf("%w: %s: %s user-data is %d bytes (%s), over %s's %d-byte limit by %d: %s",
			ErrTooBig, n.Host, n.Format, size, b.Measure, b.Provider, b.Bytes, size-b.Bytes, remedy))
	}
	return errors.Join(errs...)
}

// SoftMemoryLimit is the Go runtime's soft memory limit `kisgen render` runs under
// unless GOMEMLIMIT sets one (SetSoftMemoryLimit). User-data goes to disk node by node
// (RenderTo), so what a render holds is the plan, the PKI and the record, about 25 KB
// per node; with the runtime's default of collecting garbage when the heap has doubled,
// a 10,000-node render peaked at 780 MB, with this limit at about 460 MB for a fifth
// more CPU time (more frequent collections as the heap nears it). It is a soft limit: a
// plan that needs more gets more, at the cost of collecting more often still.
const SoftMemoryLimit = 440 << 20

// SetSoftMemoryLimit applies SoftMemoryLimit unless the environment's GOMEMLIMIT set a
// limit already. Commands call it; the library never changes the process's settings.
func SetSoftMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(SoftMemoryLimit)
	}
}

// GzipLevel is the compression level of Gzip. Every node's user-data is compressed to
// measure it, and that was most of a render's time: klauspost/compress's gzip at level 7
// takes about half the time of the standard library's default level for the same size
// within 0.5%. (Its level 6 is faster still but stores text it guesses incompressible,
// such as the long base64 lines of a data URL, uncompressed: a third bigger.)
const GzipLevel = 7

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, GzipLevel)
	return w
}}

// Gzip compresses data deterministically: no name, no modification time, GzipLevel.
// cloud-init reads gzip user-data as is; providers that compress user-data should use
// this function so that what they send is what the manifest and budget measured.
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
