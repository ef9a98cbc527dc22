// Package keyperm finds private keys that users other than their owner can read, and
// tightens them. kisgen writes every key 0600, but a key copied in with cp, unpacked
// from an archive or created under a loose umask can end up 0644, and a later command
// would go on using it without a word.
//
// The policy is to tighten and warn, not to refuse: the key's content is still the
// right one (refusing would only make the user type the chmod), and a refusal cannot
// undo a copy someone already made. The warning names the file, the mode it had and
// what to do if others may have read it. Only a key kisgen cannot chmod (another
// user's file, a read-only filesystem) is refused.
package keyperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrExposed means a private key others can read could not be made private.
var ErrExposed = errors.New("private key readable by others")

// Tighten makes path mode 0600 when its group or others have any access to it, and
// returns a warning saying so; "" when it was private already or does not exist. what
// names the key ("the CA key"), advice says what to do if it was read ("rotate it with
// ..."). When path cannot be made private the error wraps ErrExposed.
func Tighten(path, what, advice string) (string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	mode := fi.Mode().Perm()
	if !fi.Mode().IsRegular() || mode&0o077 == 0 {
		return "", nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return "", fmt.Errorf("%w: %s (%s) is mode %04o, open to %s, and kisgen cannot make it 0600 (%v): run chmod 600 %s yourself",
			ErrExposed, path, what, mode, who(mode), err, path)
	}
	return fmt.Sprintf("%s (%s) was mode %04o, open to %s: kisgen made it 0600; if anyone else could read it, %s",
		path, what, mode, who(mode), advice), nil
}

// who says which users a mode opens the file to.
func who(mode fs.FileMode) string {
	switch {
	case mode&0o070 != 0 && mode&0o007 != 0:
		return "its group and every user"
	case mode&0o007 != 0:
		return "every user"
	default:
		return "its group"
	}
}
