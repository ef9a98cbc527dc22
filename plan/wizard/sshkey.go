package wizard

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/atomicfile"
)

// KeyResult says what EnsureKey found or did.
type KeyResult struct {
	// Created is true when EnsureKey generated the key pair.
	Created bool
	// PublicCreated is true when it wrote the .pub file (with the key, or for an existing
	// key that had none).
	PublicCreated bool
	// Loose is true when an existing key is readable by other users: OpenSSH refuses to
	// use such a key.
	Loose bool
}

// EnsureKey makes sure path holds an SSH private key without a passphrase, as the plan
// needs. When nothing is there it generates an ed25519 key pair: the private key in
// OpenSSH format with mode 0600 (readable only by its owner: it opens every node), and
// path.pub with mode 0644 (it is put on every node). It never replaces a file; an
// existing key is checked and gets its .pub when that is missing.
func EnsureKey(path, comment string) (KeyResult, error) {
	var res KeyResult
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := ssh.ParseRawPrivateKey(data)
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return res, fmt.Errorf("%w: %s has a passphrase: kisgen needs a key without one", ErrKey, path)
			}
			return res, fmt.Errorf("%w: %s is not a private key: %v", ErrKey, path, err)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			res.Loose = true
		}
		if _, err := os.Stat(path + ".pub"); errors.Is(err, os.ErrNotExist) {
			signer, err := ssh.NewSignerFromKey(key)
			if err != nil {
				return res, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
			}
			if err := atomicfile.CreateExclusive(path+".pub", authorizedKey(signer.PublicKey(), comment), 0o644); err != nil {
				return res, fmt.Errorf("%w: %v", ErrKey, err)
			}
			res.PublicCreated = true
		}
		return res, nil
	case !errors.Is(err, os.ErrNotExist):
		return res, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if _, err := os.Stat(path + ".pub"); err == nil {
		return res, fmt.Errorf("%w: %s.pub exists without %s: remove it, or name another key", ErrKey, path, path)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return res, fmt.Errorf("%w: generate: %v", ErrKey, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrKey, err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := atomicfile.CreateExclusive(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return res, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := atomicfile.CreateExclusive(path+".pub", authorizedKey(sshPub, comment), 0o644); err != nil {
		// Leave things as they were: a private key without its .pub would be refused
		// the next time (.pub exists) or half-made.
		os.Remove(path)
		return res, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return KeyResult{Created: true, PublicCreated: true}, nil
}

// authorizedKey formats a public key as a line of authorized_keys, with a comment.
func authorizedKey(k ssh.PublicKey, comment string) []byte {
	line := ssh.MarshalAuthorizedKey(k) // ends with "\n"
	if comment == "" {
		return line
	}
	return append(line[:len(line)-1], []byte(" "+comment+"\n")...)
}
