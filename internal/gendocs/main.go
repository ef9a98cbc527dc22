package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/atomicfile"
)

func main() {
	root := flag.String("root", "", "module root (default: the directory holding go.mod, found upwards from here)")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	if root == "" {
		var err error
		if root, err = moduleRoot(); err != nil {
			return err
		}
	}
	outs, err := Generate(root)
	if err != nil {
		return err
	}
	for _, o := range outs {
		if err := atomicfile.WriteFile(filepath.Join(root, o.Path), o.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// moduleRoot finds the directory holding go.mod, from the working directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
