package verify

import (
	"context"
	"fmt"
	"strings"
)

// checkHosts proves that the hosts file holds kisgen's managed block exactly as rendered.
var checkHosts = &check{
	Name:  "hosts",
	Title: "The hosts file holds the planned block",
	skip: func(t *Target) string {
		if t.Expect.HostsBlock == "" {
			return "hosts file not managed by the plan (update_hosts_files is off)"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe { return []probe{{false, hostsArgv(t)}} },
	run: func(ctx context.Context, n *node) CheckResult {
		argv := hostsArgv(n.t)
		path := argv[2]
		out, err := n.exec(ctx, false, argv...)
		if err != nil {
			return failed(err)
		}
		if out.Exit != 0 {
			return failedf("%s", commandFailed(argv, out))
		}
		want := splitLines(n.t.Expect.HostsBlock)
		got := splitLines(string(out.Stdout))
		if containsRun(got, want) {
			return passed("%s holds the %d-line block", path, len(want))
		}
		// Find the block by its first (marker) line to say what differs.
		start := -1
		for i, l := range got {
			if l == want[0] {
				start = i
				break
			}
		}
		if start < 0 {
			return failedf("%s has no kisgen block (no line %q)", path, want[0])
		}
		end := len(got)
		last := want[len(want)-1]
		for i := start + 1; i < len(got); i++ {
			if got[i] == last {
				end = i + 1
				break
			}
		}
		missing, extra := lineDiff(want, got[start:end])
		var msg []string
		for _, l := range missing {
			msg = append(msg, "missing: "+l)
		}
		for _, l := range extra {
			msg = append(msg, "unexpected: "+l)
		}
		if len(msg) == 0 {
			msg = append(msg, "same lines in another order")
		}
		return failedf("%s: the kisgen block differs from the plan:\n  %s", path, strings.Join(msg, "\n  "))
	},
}

func hostsArgv(t *Target) []string {
	return []string{"cat", "--", orDefault(t.Expect.HostsPath, "/etc/hosts")}
}

func splitLines(s string) []string {
	return strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
}

// containsRun reports whether want appears in got as consecutive lines.
func containsRun(got, want []string) bool {
	for i := 0; i+len(want) <= len(got); i++ {
		match := true
		for j := range want {
			if got[i+j] != want[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// lineDiff returns the lines of want missing from got and those of got not in want.
func lineDiff(want, got []string) (missing, extra []string) {
	count := map[string]int{}
	for _, l := range got {
		count[l]++
	}
	for _, l := range want {
		if count[l] > 0 {
			count[l]--
		} else {
			missing = append(missing, l)
		}
	}
	seen := map[string]int{}
	for _, l := range want {
		seen[l]++
	}
	for _, l := range got {
		if seen[l] > 0 {
			seen[l]--
		} else {
			extra = append(extra, fmt.Sprint(l))
		}
	}
	return missing, extra
}
