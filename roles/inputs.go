package roles

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/plan"
)

// Inputs are what a render reads besides the plan and the PKI: files the plan names.
type Inputs struct {
	// SSHAuthorizedKey is the authorized_keys line for the plan's SSH user: the public
	// half of cluster.ssh.ssh_key.
	SSHAuthorizedKey string
	// Checksums are the plan's pinned sums (mirror.checksums), by path under the mirror.
	Checksums map[string]string
	// EtcdInitialCluster is the founding etcd membership (NAME=PEER_URL,…) of a cluster
	// that was applied, from the record of intent; "" before: the plan's etcd nodes
	// found it. Members in it start the cluster (or rejoin it); any other joins it.
	EtcdInitialCluster string
}

// LoadInputs reads the files the plan names, relative to the plan file's directory
// (absolute paths are read as they are): the SSH public key (KEY.pub, or derived from
// the private key when there is no .pub) and the checksums file.
func LoadInputs(p *plan.Plan) (Inputs, error) {
	dir := "."
	if p.File != "" {
		dir = filepath.Dir(p.File)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Inputs{}, fmt.Errorf("%w: %v", ErrInput, err)
	}
	defer root.Close()
	read := func(name string) ([]byte, error) {
		if filepath.IsAbs(name) {
			return os.ReadFile(name)
		}
		return root.ReadFile(name)
	}

	var in Inputs
	if pub, err := read(p.SSH.KeyFile + ".pub"); err == nil {
		key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
		if err != nil {
			return Inputs{}, fmt.Errorf("%w: %s.pub is not an SSH public key: %v (delete it to derive the key from %s)", ErrInput, p.SSH.KeyFile, err, p.SSH.KeyFile)
		}
		in.SSHAuthorizedKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	} else {
		priv, err := read(p.SSH.KeyFile)
		if err != nil {
			return Inputs{}, fmt.Errorf("%w: cannot read the SSH key %s: %v", ErrInput, p.SSH.KeyFile, err)
		}
		signer, err := ssh.ParsePrivateKey(priv)
		if err != nil {
			return Inputs{}, fmt.Errorf("%w: %s is not an unencrypted SSH private key: %v", ErrInput, p.SSH.KeyFile, err)
		}
		in.SSHAuthorizedKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	}

	if p.Mirror.ChecksumsFile != "" {
		data, err := read(p.Mirror.ChecksumsFile)
		if err != nil {
			return Inputs{}, fmt.Errorf("%w: cannot read mirror.checksums %s: %v", ErrInput, p.Mirror.ChecksumsFile, err)
		}
		sums, err := plan.ParseChecksums(data)
		if err != nil {
			return Inputs{}, fmt.Errorf("%w: mirror.checksums %s: %v", ErrInput, p.Mirror.ChecksumsFile, err)
		}
		in.Checksums = sums
	}
	return in, nil
}
