package pki

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestKubeconfigsParseBackToWhatTheyShouldHold(t *testing.T) {
	p := examplePlan(t, "ha.yaml")
	b, _ := mustEnsure(t, p, t.TempDir(), Options{})
	ca, _ := b.Get(CA)
	for _, user := range []string{Admin, ControllerManager, Scheduler, KubeProxy, CalicoNode, CalicoCNI, Kubelet("worker1"), Kubelet("master2")} {
		t.Run(user, func(t *testing.T) {
			data, ok := b.Kubeconfig(user)
			if !ok {
				t.Fatal("no kubeconfig")
			}
			got, err := ParseKubeconfig(data)
			if err != nil {
				t.Fatal(err)
			}
			pair, _ := b.Get(user)
			want := &KubeconfigFile{
				APIVersion: "v1",
				Kind:       "Config",
				Clusters: []KubeconfigNamedCluster{{Name: "production", Cluster: KubeconfigCluster{
					Server: "https://10.10.0.20:6443", CertificateAuthorityData: base64.StdEncoding.EncodeToString(ca.CertPEM)}}},
				Users: []KubeconfigNamedUser{{Name: user, User: KubeconfigUser{
					ClientCertificateData: base64.StdEncoding.EncodeToString(pair.CertPEM),
					ClientKeyData:         base64.StdEncoding.EncodeToString(pair.KeyPEM)}}},
				Contexts:       []KubeconfigNamedContext{{Name: user + "@production", Context: KubeconfigContext{Cluster: "production", User: user}}},
				CurrentContext: user + "@production",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kubeconfig (-want +got):\n%s", diff)
			}
			_, certPEM, keyPEM, err := got.Decoded()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Errorf("client certificate and key do not load as a TLS pair: %v", err)
			}
			again, _ := got.Marshal()
			if string(again) != string(data) {
				t.Error("marshalling the parsed kubeconfig does not give the same bytes")
			}
		})
	}
	if _, ok := b.Kubeconfig(Kubelet("etcd1")); ok {
		t.Error("an etcd-only node got a kubelet kubeconfig")
	}
}

func TestParseKubeconfigRejectsWhatKisgenDoesNotWrite(t *testing.T) {
	for name, text := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\ncurrent-context: x\npreferences: {}\n",
		"two users":     "apiVersion: v1\nkind: Config\nclusters: [{name: a, cluster: {server: s, certificate-authority-data: ''}}]\nusers: [{name: a, user: {}}, {name: b, user: {}}]\ncontexts: []\ncurrent-context: x\n",
		"bad base64":    "apiVersion: v1\nkind: Config\nclusters: [{name: a, cluster: {server: s, certificate-authority-data: '!!'}}]\nusers: [{name: a, user: {}}]\ncontexts: []\ncurrent-context: x\n",
	} {
		if _, err := ParseKubeconfig([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSSHHostKeysAreEd25519AndPinnedInKnownHosts(t *testing.T) {
	p := examplePlan(t, "kismatic-v1.12.yaml")
	dir := t.TempDir()
	b, _ := mustEnsure(t, p, dir, Options{})
	callback, err := knownhosts.New(filepath.Join(dir, sshDir, knownHosts))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range p.Nodes {
		priv, line, ok := b.SSHHostKey(n.Host)
		if !ok {
			t.Fatalf("%s: no host key", n.Host)
		}
		if strings.HasSuffix(string(line), "\n") || !strings.HasPrefix(string(line), "ssh-ed25519 ") {
			t.Errorf("%s: authorized key line %q", n.Host, line)
		}
		raw, err := ssh.ParseRawPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := raw.(*ed25519.PrivateKey); !ok {
			t.Fatalf("%s: host key %T, want ed25519", n.Host, raw)
		}
		signer, _ := ssh.NewSignerFromKey(raw)
		pub, _, _, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil || string(pub.Marshal()) != string(signer.PublicKey().Marshal()) {
			t.Errorf("%s: authorized line is not the private key's public half", n.Host)
		}
		if seen[string(line)] {
			t.Errorf("%s: shares its host key with another node", n.Host)
		}
		seen[string(line)] = true
		for _, addr := range []string{n.Host + ":22", n.IP.String() + ":22", n.InternalIP.String() + ":22"} {
			tcp := &net.TCPAddr{IP: net.ParseIP(n.IP.String()), Port: 22}
			if err := callback(addr, tcp, signer.PublicKey()); err != nil {
				t.Errorf("known_hosts does not pin %s for %s: %v", addr, n.Host, err)
			}
		}
		other, _ := newSSHHostKey("other")
		otherPub, _, _, _, _ := ssh.ParseAuthorizedKey(other.authorized)
		if err := callback(n.Host+":22", &net.TCPAddr{IP: net.ParseIP(n.IP.String()), Port: 22}, otherPub); err == nil {
			t.Errorf("known_hosts accepts another key for %s", n.Host)
		}
	}
}
