package pki

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodeFilesRoundTrip(t *testing.T) {
	items := []nodeItem{
		{name: "kubelet-a", certPEM: []byte("-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"), keyPEM: []byte("-----BEGIN EC PRIVATE KEY-----\nBAUG\n-----END EC PRIVATE KEY-----\n")},
		{name: sshHostKeyItem, keyPEM: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nBwgJ\n-----END OPENSSH PRIVATE KEY-----\n")},
	}
	data := formatNodeFile("a", items)
	got, err := parseNodeFile("a.pem", data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(items, got, cmp.AllowUnexported(nodeItem{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for name, bad := range map[string]string{
		"a second certificate for one name": strings.Replace(string(data), "# kubelet-a\n-----BEGIN EC PRIVATE KEY-----\nBAUG\n-----END EC PRIVATE KEY-----", "# kubelet-a\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----", 1),
		"text after the last block":         string(data) + "junk\n",
		"a name line that is not a name":    strings.Replace(string(data), "# kubelet-a\n", "# Kubelet A\n", 1),
		"nothing":                           "# only a comment\n",
	} {
		if _, err := parseNodeFile("a.pem", []byte(bad)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "a.pem") {
			t.Errorf("%s: got %v, want ErrCorrupt naming a.pem", name, err)
		}
	}
}
