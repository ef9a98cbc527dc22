package wizard

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// encryptKey re-encodes a private key with a passphrase, as ssh-keygen -p would.
func encryptKey(data []byte, passphrase string) ([]byte, error) {
	key, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(key, "test", []byte(passphrase))
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

func TestEnsureKeyCreatesAnOpenSSHKeyPair(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kismaticuser.key")
	res, err := EnsureKey(path, "kismaticuser@prod")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || !res.PublicCreated || res.Loose {
		t.Errorf("result %+v", res)
	}
	priv, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(priv), "-----BEGIN OPENSSH PRIVATE KEY-----\n") {
		t.Errorf("not OpenSSH format:\n%s", priv)
	}
	key, err := ssh.ParseRawPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	edKey, ok := key.(*ed25519.PrivateKey)
	if !ok {
		t.Fatalf("key type %T, want ed25519", key)
	}
	for file, mode := range map[string]os.FileMode{path: 0o600, path + ".pub": 0o644} {
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", file, st.Mode().Perm(), mode)
		}
	}
	pubLine, _ := os.ReadFile(path + ".pub")
	pub, comment, _, _, err := ssh.ParseAuthorizedKey(pubLine)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(edKey)
	if string(pub.Marshal()) != string(signer.PublicKey().Marshal()) || comment != "kismaticuser@prod" {
		t.Errorf("the .pub does not match the key (comment %q)", comment)
	}

	// A second run changes nothing.
	res, err = EnsureKey(path, "other")
	if err != nil || res.Created || res.PublicCreated {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(priv) {
		t.Error("the key was replaced")
	}
}

func TestEnsureKeyWithWhatIsThere(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr string
		want    KeyResult
	}{
		{"an existing key without .pub gets one", func(t *testing.T, path string) {
			writeTestKey(t, path, "")
			os.Remove(path + ".pub")
		}, "", KeyResult{PublicCreated: true}},
		{"a key readable by others is flagged", func(t *testing.T, path string) {
			writeTestKey(t, path, "")
			os.Chmod(path, 0o644)
		}, "", KeyResult{Loose: true}},
		{"an encrypted key is refused", func(t *testing.T, path string) { writeTestKey(t, path, "secret") }, "has a passphrase", KeyResult{}},
		{"a file that is not a key is refused", func(t *testing.T, path string) { os.WriteFile(path, []byte("hello\n"), 0o600) }, "is not a private key", KeyResult{}},
		{"a lone .pub is not overwritten", func(t *testing.T, path string) { os.WriteFile(path+".pub", []byte("ssh-ed25519 AAAA x\n"), 0o644) }, ".pub exists without", KeyResult{}},
		{"a missing directory is an error", func(t *testing.T, path string) { os.RemoveAll(filepath.Dir(path)) }, "no such file", KeyResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "k.key")
			os.MkdirAll(filepath.Dir(path), 0o700)
			tt.setup(t, path)
			before, _ := os.ReadFile(path + ".pub")
			res, err := EnsureKey(path, "c")
			if tt.wantErr != "" {
				if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if after, _ := os.ReadFile(path + ".pub"); string(after) != string(before) {
					t.Error("the .pub was changed")
				}
				return
			}
			if err != nil || res != tt.want {
				t.Fatalf("got %+v, %v; want %+v", res, err, tt.want)
			}
		})
	}
}
