package verify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// checkFiles proves that the certificates, keys and configuration files on the node are
// exactly the ones in the state directory (SHA-256) with the planned modes.
var checkFiles = &check{
	Name:  "files",
	Title: "Certificates and files on disk match the state directory",
	root:  true,
	skip: func(t *Target) string {
		if len(t.Expect.Files) == 0 {
			return "no files expected on this node"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		sum, stat := filesArgv(t)
		if stat == nil {
			return []probe{{true, sum}}
		}
		return []probe{{true, sum}, {true, stat}}
	},
	run: func(ctx context.Context, n *node) CheckResult {
		files := n.t.Expect.Files
		argv, sargv := filesArgv(n.t)
		out, err := n.exec(ctx, true, argv...)
		if err != nil {
			return failed(err)
		}
		sums := parseSums(string(out.Stdout))
		var modes map[string]string
		if sargv != nil {
			sout, err := n.exec(ctx, true, sargv...)
			if err != nil {
				return failed(err)
			}
			modes = parseModes(string(sout.Stdout))
		}
		var problems []string
		for _, f := range files {
			got, ok := sums[f.Path]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: missing or unreadable", f.Path))
			case !strings.EqualFold(got, f.SHA256):
				problems = append(problems, fmt.Sprintf("%s: sha256 %s, the state directory has %s (the node holds other certificates or files than the ones rendered)", f.Path, short(got), short(f.SHA256)))
			case f.Mode != 0 && modes[f.Path] != fmt.Sprintf("%o", f.Mode.Perm()):
				problems = append(problems, fmt.Sprintf("%s: mode %s, want %04o", f.Path, orDefault(modes[f.Path], "unknown"), f.Mode.Perm()))
			}
		}
		if len(problems) > 0 {
			return failedf("%d of %d files differ:\n  %s", len(problems), len(files), strings.Join(problems, "\n  "))
		}
		return passed("%d files match", len(files))
	},
}

// filesArgv returns the sha256sum command and, when a mode is expected, the stat one.
func filesArgv(t *Target) (sum, stat []string) {
	paths := make([]string, len(t.Expect.Files))
	modes := false
	for i, f := range t.Expect.Files {
		paths[i] = f.Path
		modes = modes || f.Mode != 0
	}
	sum = append([]string{"sha256sum", "--"}, paths...)
	if modes {
		stat = append([]string{"stat", "-c", "%a %n", "--"}, paths...)
	}
	return sum, stat
}

// parseSums reads sha256sum's "HEX  PATH" lines.
func parseSums(text string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if sum, path, ok := strings.Cut(l, "  "); ok && len(sum) == 64 {
			m[path] = sum
		}
	}
	return m
}

// parseModes reads `stat -c '%a %n'`: octal permission bits and the path.
func parseModes(text string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if mode, path, ok := strings.Cut(l, " "); ok {
			if v, err := strconv.ParseUint(mode, 8, 32); err == nil {
				m[path] = fmt.Sprintf("%o", v)
			}
		}
	}
	return m
}
