package pxe

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// tarTime is every entry's modification time: the same bundle gives the same bytes.
var tarTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteTarGz writes dir as a gzip-compressed tar under a top directory named like dir,
// deterministically: entries sorted, fixed times and owners, no gzip name or time.
func WriteTarGz(w io.Writer, dir string) error {
	top := filepath.Base(filepath.Clean(dir))
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s: only files and directories can be bundled", p)
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // the level is valid
	tw := tar.NewWriter(zw)
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Name:    top + "/" + filepath.ToSlash(rel),
			Mode:    int64(fi.Mode().Perm()),
			ModTime: tarTime,
			Format:  tar.FormatPAX,
		}
		if fi.IsDir() {
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.IsDir() {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// WriteTarGzFile writes dir's archive to path atomically (temporary file, sync, rename).
func WriteTarGzFile(path, dir string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := WriteTarGz(tmp, dir); err != nil {
		tmp.Close()
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
