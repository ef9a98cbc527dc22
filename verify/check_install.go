package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kisgen/kisgen/roles"
)

// checkInstall reads the node's install status file and proves the install finished, on
// the machine it was rendered for, from the user-data rendered for it.
var checkInstall = &check{
	Name:  "install",
	Title: "kisgen's install finished (status file says done)",
	root:  true,
	skip:  always,
	probes: func(t *Target, o *Options) []probe {
		return []probe{{true, []string{"cat", "--", orDefault(t.Expect.StatusPath, roles.StatusPath)}}}
	},
	run: func(ctx context.Context, n *node) CheckResult {
		path := orDefault(n.t.Expect.StatusPath, roles.StatusPath)
		st, bad := readStatus(ctx, n, path, "the install has not started (the user-data's bootstrap has not run yet, or first-boot failed before it)")
		if bad != nil {
			return *bad
		}
		n.status = st
		if st.Host != "" && st.Host != n.t.Host {
			return failedf("the status file is for host %q, not %s: this machine ran another node's user-data", st.Host, n.t.Host)
		}
		if len(n.t.Roles) > 0 && !sameSet(st.Roles, n.t.Roles) {
			return failedf("the install has roles %s, the plan %s: the node ran user-data rendered for another plan (re-render and re-provision it)", list(st.Roles), list(n.t.Roles))
		}
		if want := n.t.Expect.UserDataSHA256; want != "" && !strings.EqualFold(st.UserDataSHA256, want) {
			return failedf("the node ran user-data sha256 %s, but the rendered user-data is %s: the node is not up to date (kisgen diff says what changed; re-provision it)", short(st.UserDataSHA256), short(want))
		}
		if want := n.t.Expect.ConfigSHA256; want != "" && !strings.EqualFold(st.ConfigSHA256, want) {
			return failedf("the node's configuration is sha256 %s, but the rendered one is %s: the node is not up to date (kisgen diff says what changed; re-provision it)", short(st.ConfigSHA256), short(want))
		}
		var wrong []string
		for _, c := range sortedKeys(n.t.Expect.Versions) {
			if got, want := st.Versions[c], n.t.Expect.Versions[c]; got != want {
				wrong = append(wrong, fmt.Sprintf("%s %s, planned %s", c, orDefault(got, "not installed"), want))
			}
		}
		if len(wrong) > 0 && st.Phase == roles.PhaseDone {
			return failedf("installed versions differ from the plan: %s", strings.Join(wrong, "; "))
		}
		switch st.Phase {
		case roles.PhaseDone:
			msg := "done"
			if st.Updated != "" {
				msg += " at " + st.Updated
			}
			if st.InstallPath != "" {
				msg += fmt.Sprintf(" (binaries: %s)", st.InstallPath)
			}
			if len(st.Versions) > 0 {
				var v []string
				for _, k := range sortedKeys(st.Versions) {
					v = append(v, k+" "+st.Versions[k])
				}
				msg += "; " + strings.Join(v, ", ")
			}
			return passed("%s", msg)
		case roles.PhaseFailed:
			return failedf("the install failed at step %q: %s", st.Step, orDefault(st.Error, "no reason recorded"))
		default:
			return failedf("the install has not finished: phase %s, step %q (last update %s)", orDefault(st.Phase, "none"), st.Step, orDefault(st.Updated, "unknown"))
		}
	},
}

// readStatus reads a status file (the Status schema) as root. A missing file fails with
// "no status file at PATH: " + missing.
func readStatus(ctx context.Context, n *node, path, missing string) (*roles.Status, *CheckResult) {
	argv := []string{"cat", "--", path}
	out, err := n.exec(ctx, true, argv...)
	if err != nil {
		r := failed(err)
		return nil, &r
	}
	if out.Exit != 0 {
		r := failedf("cannot read the status file: %s", commandFailed(argv, out))
		if strings.Contains(string(out.Stderr), "No such file") {
			r = failedf("no status file at %s: %s", path, missing)
		}
		return nil, &r
	}
	var st roles.Status
	if err := json.Unmarshal(out.Stdout, &st); err != nil {
		r := failedf("the status file %s is not valid JSON: %v", path, err)
		return nil, &r
	}
	return &st, nil
}

// checkAddOns proves, on the first master, that kisgen-addons applied the cluster's
// add-ons (Calico, DNS, …).
var checkAddOns = &check{
	Name:  "addons",
	Title: "kisgen's add-ons are applied (first master)",
	root:  true,
	skip: func(t *Target) string {
		if t.Expect.AddOnsStatusPath == "" {
			return "add-ons are applied from the first master"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		return []probe{{true, []string{"cat", "--", t.Expect.AddOnsStatusPath}}}
	},
	run: func(ctx context.Context, n *node) CheckResult {
		st, bad := readStatus(ctx, n, n.t.Expect.AddOnsStatusPath, "kisgen-addons has not started (it waits for the API server; see its unit's journal)")
		if bad != nil {
			return *bad
		}
		switch st.Phase {
		case roles.PhaseDone:
			return passed("done at %s", orDefault(st.Updated, "an unknown time"))
		case roles.PhaseFailed:
			return failedf("the add-ons failed at step %q: %s", st.Step, orDefault(st.Error, "no reason recorded"))
		default:
			return failedf("the add-ons are not applied yet: phase %s, step %q (last update %s)", orDefault(st.Phase, "none"), st.Step, orDefault(st.Updated, "unknown"))
		}
	},
}

// checkPreflight reports the install's pre-flight checks from the status file: a failed
// fatal check fails, a failed warning-only check is listed.
var checkPreflight = &check{
	Name:  "preflight",
	Title: "Pre-flight checks on the node passed",
	root:  true,
	skip:  always,
	run: func(_ context.Context, n *node) CheckResult {
		st := n.status
		if st == nil {
			return skipped("not run: the status file was not read (see install)")
		}
		var fatal, warn []string
		for _, c := range st.Preflight {
			if c.OK {
				continue
			}
			line := c.Name
			if c.Detail != "" {
				line += ": " + c.Detail
			}
			if c.Fatal {
				fatal = append(fatal, line)
			} else {
				warn = append(warn, line)
			}
		}
		switch {
		case len(fatal) > 0:
			msg := fmt.Sprintf("%d of %d pre-flight checks failed:\n  %s", len(fatal), len(st.Preflight), strings.Join(fatal, "\n  "))
			if len(warn) > 0 {
				msg += "\n  warnings: " + strings.Join(warn, "; ")
			}
			return failedf("%s", msg)
		case st.Phase == roles.PhasePending || st.Phase == roles.PhasePreflight:
			return failedf("pre-flight has not finished (phase %s; %d checks so far)", st.Phase, len(st.Preflight))
		case len(st.Preflight) == 0:
			return skipped("the install recorded no pre-flight checks")
		case len(warn) > 0:
			return passed("%d checks passed; warnings:\n  %s", len(st.Preflight)-len(warn), strings.Join(warn, "\n  "))
		default:
			return passed("all %d passed", len(st.Preflight))
		}
	},
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func list(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ",")
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return orDefault(sum, "(none)")
}
