package pki

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
)

// A node file (nodes/HOST.pem) holds everything specific to one host: its certificates
// and keys (kubelet client and serving; etcd server and peer; API server) and its SSH
// host key. Each PEM block is preceded by a line "# NAME" naming the item it belongs to,
// so the file stays readable by openssl and cfssl (which skip text between blocks) while
// kisgen can tell the blocks apart. One file per host means one atomic rename replaces a
// host's whole identity (never a certificate without its key) and one inode per host
// instead of seven: see doc.go for why that matters.

// sshHostKeyItem is the item name of the SSH host key inside a node file.
const sshHostKeyItem = "ssh-host-ed25519-key"

var itemNameRE = regexp.MustCompile(`^# ([a-z0-9][a-z0-9.-]*)$`)

// nodeItem is one named item of a node file: a certificate and key, or the SSH key.
type nodeItem struct {
	name    string
	certPEM []byte // nil for the SSH host key
	keyPEM  []byte
}

// parseNodeFile reads a node file's items in file order.
func parseNodeFile(path string, data []byte) ([]nodeItem, error) {
	var items []nodeItem
	index := map[string]int{}
	rest := data
	for {
		begin := bytes.Index(rest, []byte("-----BEGIN "))
		if begin < 0 {
			if len(bytes.TrimSpace(rest)) > 0 && len(items) > 0 {
				for _, l := range strings.Split(string(bytes.TrimSpace(rest)), "\n") {
					if !strings.HasPrefix(l, "#") {
						return nil, fmt.Errorf("%w: %s: text after the last PEM block", ErrCorrupt, path)
					}
				}
			}
			break
		}
		name := labelBefore(rest[:begin])
		block, after := pem.Decode(rest[begin:])
		consumed := rest[begin : len(rest)-len(after)]
		if block == nil || bytes.Contains(consumed[1:], []byte("-----BEGIN ")) {
			// pem.Decode skips a damaged block and returns the next one: refuse that.
			return nil, fmt.Errorf("%w: %s: damaged PEM block after the line \"# %s\"", ErrCorrupt, path, name)
		}
		if name == "" {
			return nil, fmt.Errorf("%w: %s: a %s block has no \"# NAME\" line before it", ErrCorrupt, path, block.Type)
		}
		raw := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})
		i, ok := index[name]
		if !ok {
			i = len(items)
			index[name] = i
			items = append(items, nodeItem{name: name})
		}
		it := &items[i]
		switch {
		case block.Type == "CERTIFICATE" && it.certPEM == nil && name != sshHostKeyItem:
			it.certPEM = raw
		case strings.HasSuffix(block.Type, "PRIVATE KEY") && it.keyPEM == nil:
			it.keyPEM = raw
		default:
			return nil, fmt.Errorf("%w: %s: unexpected %s block for %s", ErrCorrupt, path, block.Type, name)
		}
		rest = after
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: %s holds no PEM blocks", ErrCorrupt, path)
	}
	return items, nil
}

// labelBefore returns NAME from the last non-empty line of text when it is "# NAME".
func labelBefore(text []byte) string {
	lines := strings.Split(strings.TrimRight(string(text), " \t\r\n"), "\n")
	if len(lines) == 0 {
		return ""
	}
	m := itemNameRE.FindStringSubmatch(strings.TrimSpace(lines[len(lines)-1]))
	if m == nil {
		return ""
	}
	return m[1]
}

// formatNodeFile writes a node file: a header, then each item's certificate and key.
func formatNodeFile(host string, items []nodeItem) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# kisgen: certificates, keys and SSH host key of %s. Secret: only %s's user-data gets them.\n", host, host)
	for _, it := range items {
		for _, p := range [][]byte{it.certPEM, it.keyPEM} {
			if p == nil {
				continue
			}
			fmt.Fprintf(&b, "# %s\n", it.name)
			b.Write(p)
		}
	}
	return b.Bytes()
}
