package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/plan/wizard"
)

func main() {
	if err := run("examples"); err != nil {
		fmt.Fprintln(os.Stderr, "examplekeys:", err)
		os.Exit(1)
	}
}

// run ensures the key of every plan in dir, printing what it created.
func run(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no plans in %s/: run it from the repository root", dir)
	}
	keys := map[string]string{}
	for _, f := range files {
		p, _, err := plan.Load(f)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("%s does not parse: run `kisgen validate -f %s`", f, f)
		}
		keys[p.Path(p.SSH.KeyFile)] = p.SSH.User + "@" + p.Name
	}
	paths := make([]string, 0, len(keys))
	for k := range keys {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, k := range paths {
		res, err := wizard.EnsureKey(k, keys[k])
		if err != nil {
			return err
		}
		switch {
		case res.Created:
			fmt.Printf("created %s and %s.pub (git-ignored)\n", k, k)
		case res.Loose:
			return fmt.Errorf("%s is readable by other users: chmod 600 %s", k, k)
		default:
			fmt.Printf("kept %s\n", k)
		}
	}
	return nil
}
