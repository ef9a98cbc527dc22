package conformance

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// networkImages are the e2e images the quick and network modes' specs run: agnhost
// nearly everywhere, glibc-dns-testing beside it in the DNS specs, nginx in the
// Endpoints and EndpointSlice specs, the suite's pause tag in the Service latency spec.
var networkImages = []string{roles.ImageE2EAgnhost, roles.ImageE2EGlibcDNSTesting, roles.ImageE2ENginx, roles.ImageE2EPause}

// RequiredImages are the e2e images the mode's specs run that kisgen builds, for p's
// Kubernetes version: every one for certified.
func RequiredImages(p *plan.Plan, mode Mode) []roles.ConformanceImage {
	var out []roles.ConformanceImage
	for _, img := range roles.ConformanceImages(p) {
		if mode == ModeCertified || contains(networkImages, img.Component) {
			out = append(out, img)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Refs are every reference of imgs, aliases included.
func Refs(imgs []roles.ConformanceImage) []string {
	var out []string
	for _, img := range imgs {
		out = append(out, img.Ref)
		out = append(out, img.Aliases...)
	}
	return out
}

// ctrArgv runs kisgen's ctr against the node's containerd in Kubernetes' namespace.
func ctrArgv(args ...string) []string {
	return append([]string{roles.BinDir + "/ctr", "--address", roles.ContainerdSocket, "-n", "k8s.io"}, args...)
}

// MissingImages asks node's containerd which of refs it does not have.
func MissingImages(ctx context.Context, node Node, refs []string) ([]string, error) {
	out, err := node.Run(ctx, true, ctrArgv("images", "ls", "-q")...)
	if err != nil {
		return nil, fmt.Errorf("listing %s's images: %w", node.Host(), err)
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		have[l] = true
	}
	var missing []string
	for _, r := range refs {
		if !have[r] {
			missing = append(missing, r)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

// importScript takes an image archive on its input into a temporary file and imports
// it into containerd ($@ is the ctr command without the file).
const importScript = `set -e
f=$(mktemp /var/tmp/kisgen-image.XXXXXX)
trap 'rm -f "$f"' EXIT
cat >"$f"
"$@" "$f"`

// ImportImage copies the image archive file to node and imports it into containerd,
// for a cluster booted before its plan listed the e2e images.
func ImportImage(ctx context.Context, node Node, file string, progress io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	t0 := time.Now()
	var stderr strings.Builder
	argv := append([]string{"sh", "-c", importScript, "kisgen-import"}, ctrArgv("images", "import")...)
	code, err := node.Stream(ctx, true, f, io.Discard, &stderr, 10*time.Second, argv...)
	if err != nil {
		return fmt.Errorf("%w: importing %s on %s: %v", ErrRemote, file, node.Host(), err)
	}
	if code != 0 {
		return fmt.Errorf("%w: importing %s on %s exited %d: %s", ErrRemote, file, node.Host(), code, strings.TrimSpace(stderr.String()))
	}
	fmt.Fprintf(progress, "conformance: imported %s on %s in %s\n", file, node.Host(), time.Since(t0).Round(time.Second))
	return nil
}
