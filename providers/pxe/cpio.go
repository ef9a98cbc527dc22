package pxe

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// cpioFile is one entry of a newc cpio archive: a directory when Data is nil and Dir is
// set, else a regular file.
type cpioFile struct {
	Name string
	Mode os.FileMode
	Dir  bool
	Data []byte
}

// newc is the header of a newc ("070701") cpio entry, the format the kernel unpacks into
// its initramfs. Every field but the name is 8 hexadecimal digits; times and owners are
// zero, so that the same files give the same bytes.
func newcHeader(ino int, mode uint32, size int64, name string) string {
	return fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00",
		ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0, name)
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }

// writeCPIO writes files as a newc cpio archive with its trailer. The kernel takes such
// archives one after another in its initramfs (iPXE hands it every initrd of a script),
// each adding its files to what the earlier ones unpacked.
func writeCPIO(w io.Writer, files []cpioFile) error {
	for i, f := range files {
		mode := uint32(0o100000) | uint32(f.Mode.Perm())
		if f.Dir {
			mode = 0o040000 | uint32(f.Mode.Perm())
		}
		if err := writeEntry(w, i+1, mode, f.Name, f.Data); err != nil {
			return err
		}
	}
	return writeEntry(w, len(files)+1, 0, "TRAILER!!!", nil)
}

func writeEntry(w io.Writer, ino int, mode uint32, name string, data []byte) error {
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("cpio entry %q: names are relative to the initramfs root", name)
	}
	h := newcHeader(ino, mode, int64(len(data)), name)
	pad := strings.Repeat("\x00", int(pad4(int64(len(h)))))
	if _, err := io.WriteString(w, h+pad); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err := w.Write(make([]byte, pad4(int64(len(data)))))
	return err
}

// cpioStream writes one large file into a cpio archive without holding it in memory: the
// header is written with a size of 0 and patched once the data is in (the size is 8
// hexadecimal digits at a fixed offset).
type cpioStream struct {
	f       *os.File
	sizeAt  int64
	dataAt  int64
	entries int
}

// startCPIOStream writes dirs and the header of name into f, positioned at its start.
func startCPIOStream(f *os.File, dirs []string, name string) (*cpioStream, error) {
	s := &cpioStream{f: f}
	var files []cpioFile
	for _, d := range dirs {
		files = append(files, cpioFile{Name: d, Dir: true, Mode: 0o755})
	}
	for i, d := range files {
		if err := writeEntry(f, i+1, 0o040000|uint32(d.Mode.Perm()), d.Name, nil); err != nil {
			return nil, err
		}
	}
	s.entries = len(files) + 1
	at, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	h := newcHeader(s.entries, 0o100644, 0, name)
	s.sizeAt = at + 6 + 6*8 // magic, then ino, mode, uid, gid, nlink, mtime: filesize is next
	if _, err := io.WriteString(f, h+strings.Repeat("\x00", int(pad4(int64(len(h)))))); err != nil {
		return nil, err
	}
	s.dataAt = at + int64(len(h)) + pad4(int64(len(h)))
	return s, nil
}

// finish pads the data written since startCPIOStream, writes the trailer and patches the
// file's size into its header.
func (s *cpioStream) finish() error {
	end, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	size := end - s.dataAt
	if size > 0xFFFFFFFF {
		return fmt.Errorf("%s: %d bytes do not fit a cpio entry", s.f.Name(), size)
	}
	if _, err := s.f.Write(make([]byte, pad4(size))); err != nil {
		return err
	}
	if err := writeEntry(s.f, s.entries+1, 0, "TRAILER!!!", nil); err != nil {
		return err
	}
	_, err = s.f.WriteAt([]byte(fmt.Sprintf("%08X", size)), s.sizeAt)
	return err
}
