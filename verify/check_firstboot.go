package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// checkFirstBoot proves that the node's first-boot agent applied its user-data: cloud-init
// finished without errors, or Ignition ran with the user config.
var checkFirstBoot = &check{
	Name:  "first-boot",
	Title: "cloud-init or Ignition finished without errors",
	skip: func(t *Target) string {
		switch t.Expect.Provisioner {
		case "cloud-init", "ignition":
			return ""
		case "":
			return "no first-boot agent given for this node"
		default:
			return fmt.Sprintf("unknown first-boot agent %q (want cloud-init or ignition)", t.Expect.Provisioner)
		}
	},
	probes: func(t *Target, o *Options) []probe {
		if t.Expect.Provisioner == "ignition" {
			return []probe{{true, ignitionResultArgv(t)}, {true, ignitionJournalArgv}}
		}
		return []probe{{false, cloudInitArgv}}
	},
	run: func(ctx context.Context, n *node) CheckResult {
		if n.t.Expect.Provisioner == "ignition" {
			if n.sudoErr != nil {
				return skipped("not run: Ignition's result is read as root and sudo was refused (see sudo)")
			}
			return checkIgnition(ctx, n)
		}
		return checkCloudInit(ctx, n)
	},
}

// cloudInitStatus is `cloud-init status --format json` (cloud-init 22.3 and later; the
// extended fields come with 23.4).
type cloudInitStatus struct {
	Status            string              `json:"status"`
	ExtendedStatus    string              `json:"extended_status"`
	Detail            string              `json:"detail"`
	Errors            []string            `json:"errors"`
	Datasource        string              `json:"datasource"`
	LastUpdate        string              `json:"last_update"`
	RecoverableErrors map[string][]string `json:"recoverable_errors"`
}

var (
	cloudInitArgv = []string{"cloud-init", "status", "--format", "json"}
	// Ignition logs what stopped a stage at priority crit.
	ignitionJournalArgv = []string{"journalctl", "--no-pager", "-q", "-o", "cat", "-t", "ignition", "-p", "crit"}
)

func ignitionResultArgv(t *Target) []string {
	return []string{"cat", "--", orDefault(t.Expect.IgnitionResult, "/etc/.ignition-result.json")}
}

func checkCloudInit(ctx context.Context, n *node) CheckResult {
	argv := cloudInitArgv
	out, err := n.exec(ctx, false, argv...)
	if err != nil {
		return failed(err)
	}
	var st cloudInitStatus
	if jerr := json.Unmarshal(out.Stdout, &st); jerr != nil || st.Status == "" {
		// cloud-init before 22.3 has no --format: read the --long text instead.
		if out.Exit == 0 || !strings.Contains(string(out.Stderr), "--format") {
			return failedf("cannot read %s: %s", shellJoin(argv), commandFailed(argv, out))
		}
		argv = []string{"cloud-init", "status", "--long"}
		if out, err = n.exec(ctx, false, argv...); err != nil {
			return failed(err)
		}
		st = parseCloudInitLong(string(out.Stdout))
		if st.Status == "" {
			return failedf("cannot read %s", commandFailed(argv, out))
		}
	}
	detail := strings.TrimSpace(st.Detail)
	switch st.Status {
	case "done":
		msg := "cloud-init done"
		if st.Datasource != "" {
			msg += " (datasource " + st.Datasource + ")"
		}
		if st.ExtendedStatus == "degraded done" || len(st.RecoverableErrors) > 0 {
			msg += "; it recovered from errors: " + recoverable(st.RecoverableErrors)
		}
		return passed("%s", msg)
	case "error":
		errs := st.Errors
		if len(errs) == 0 && detail != "" {
			errs = []string{detail}
		}
		return failedf("cloud-init failed: %s\n  see /var/log/cloud-init.log and /var/log/cloud-init-output.log on the node", strings.Join(errs, "\n  "))
	case "running":
		return failedf("cloud-init is still running (%s)", orDefault(detail, "no stage given"))
	case "disabled":
		return failedf("cloud-init is disabled on the node, so its user-data was not applied: %s", orDefault(detail, "no reason given"))
	default:
		return failedf("cloud-init status is %q: %s", st.Status, orDefault(detail, "it has not run on this boot"))
	}
}

// parseCloudInitLong reads `cloud-init status --long`: "status: done" and the lines after
// "detail:".
func parseCloudInitLong(text string) cloudInitStatus {
	var st cloudInitStatus
	inDetail := false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "status: "):
			st.Status = strings.TrimSpace(strings.TrimPrefix(l, "status: "))
			inDetail = false
		case strings.HasPrefix(l, "detail:"):
			st.Detail = strings.TrimSpace(strings.TrimPrefix(l, "detail:"))
			inDetail = true
		case strings.HasPrefix(l, "errors:"):
			inDetail = false
		case inDetail:
			st.Detail = strings.TrimSpace(st.Detail + "\n" + l)
		}
	}
	return st
}

func recoverable(m map[string][]string) string {
	var parts []string
	for _, level := range sortedKeys(m) {
		for _, e := range m[level] {
			parts = append(parts, level+": "+e)
		}
	}
	if len(parts) == 0 {
		return "see /var/log/cloud-init.log"
	}
	return strings.Join(parts, "; ")
}

// ignitionResult is /etc/.ignition-result.json, which Ignition's files stage writes.
type ignitionResult struct {
	ProvisioningBootID string `json:"provisioningBootID"`
	ProvisioningDate   string `json:"provisioningDate"`
	UserConfigProvided bool   `json:"userConfigProvided"`
}

func checkIgnition(ctx context.Context, n *node) CheckResult {
	argv := ignitionResultArgv(n.t)
	path := argv[2]
	out, err := n.exec(ctx, true, argv...)
	if err != nil {
		return failed(err)
	}
	if out.Exit != 0 {
		return failedf("Ignition has not finished on this machine: %s (no result file; the node boots into emergency mode when Ignition fails: see its console)", commandFailed(argv, out))
	}
	var res ignitionResult
	if err := json.Unmarshal(out.Stdout, &res); err != nil {
		return failedf("%s is not Ignition's result file: %v", path, err)
	}
	if !res.UserConfigProvided {
		return failedf("Ignition ran on %s without a user config: the node did not get its user-data", orDefault(res.ProvisioningDate, "an unknown date"))
	}
	jout, err := n.exec(ctx, true, ignitionJournalArgv...)
	if err != nil {
		return failed(err)
	}
	if lines := lastLines(string(jout.Stdout), 10); jout.Exit == 0 && len(lines) > 0 {
		return failedf("Ignition logged critical errors:\n  %s", strings.Join(lines, "\n  "))
	}
	return passed("Ignition applied the user config on %s", res.ProvisioningDate)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
