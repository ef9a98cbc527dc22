package packer

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/atomicfile"
)

// BuildUser is the account the build VM's seed creates for Packer's SSH connection
// (qemu and vSphere builds). The image is saved after the user, its key and its sudo
// rights are deleted.
const BuildUser = "kisgen-build"

// BuildKeyFile is the build SSH key's file in the output directory (0600; .pub beside it).
const BuildKeyFile = "build-key"

// LoadOrCreateBuildKey returns the authorized_keys line of the build SSH key in dir,
// creating the key pair when it does not exist. An existing key is never replaced, so
// running `kisgen packer` again writes the same templates.
func LoadOrCreateBuildKey(dir string) (string, error) {
	priv := filepath.Join(dir, BuildKeyFile)
	data, err := os.ReadFile(priv)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", err
		}
		block, err := ssh.MarshalPrivateKey(key, "kisgen packer build key")
		if err != nil {
			return "", err
		}
		signer, err := ssh.NewSignerFromKey(key)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := atomicfile.CreateExclusive(priv, pem.EncodeToMemory(block), 0o600); err != nil {
			return "", fmt.Errorf("%w: %v", ErrBuildKey, err)
		}
		pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " kisgen-build"
		if err := atomicfile.WriteFile(priv+".pub", []byte(pub+"\n"), 0o644); err != nil {
			return "", err
		}
		return pub, nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuildKey, err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not an unencrypted OpenSSH private key: %v (delete %s and its .pub to make a new one)", ErrBuildKey, priv, err, priv)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " kisgen-build", nil
}

// buildUserData is the cloud-config of the build VM: the build user with the build key
// and password-less sudo, nothing else.
func buildUserData(authorizedKey string) ([]byte, error) {
	doc := map[string]any{
		"users": []map[string]any{{
			"name":                BuildUser,
			"gecos":               "kisgen image build (deleted before the image is saved)",
			"shell":               "/bin/sh",
			"lock_passwd":         true,
			"sudo":                "ALL=(ALL) NOPASSWD:ALL",
			"ssh_authorized_keys": []string{authorizedKey},
		}},
		"ssh_pwauth": false,
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte("#cloud-config\n"), out...), nil
}

// buildMetaData is the NoCloud meta-data of the build VM.
func buildMetaData(osName string) ([]byte, error) {
	return yaml.Marshal(map[string]string{"instance-id": "kisgen-build-" + osName, "local-hostname": "kisgen-build"})
}

// cleanupCommand runs as root when the bake is done, just before the image is saved:
// cloud-init forgets the build instance (so every node runs its own user-data), and the
// build user, its key and its sudo rights go.
func cleanupCommand(user string, shutdown bool) string {
	cmds := []string{"cloud-init clean --logs --seed", "rm -f /etc/sudoers.d/90-cloud-init-users"}
	if user != "" {
		cmds = append(cmds, "userdel -f -r "+user+" 2>/dev/null || true")
	}
	if shutdown {
		cmds = append(cmds, "fstrim -a || true", "shutdown -P now")
	}
	return "sudo sh -c '" + strings.Join(cmds, "; ") + "'"
}
