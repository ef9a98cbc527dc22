package verify

import (
	"context"
	"fmt"
	"strings"
)

// journalLines is how many of a failed unit's last journal lines are shown.
const journalLines = 10

// unitProps are the properties the units check reads with `systemctl show`.
const unitProps = "Id,LoadState,ActiveState,SubState,Result,UnitFileState"

// enabledStates are UnitFileStates that start a unit at boot (or need no enabling).
var enabledStates = map[string]bool{"enabled": true, "enabled-runtime": true, "static": true, "generated": true, "alias": true, "indirect": true}

// checkUnits proves that the systemd units of the node's roles are active and enabled;
// for each that is not, it says its state and shows its last journal lines.
var checkUnits = &check{
	Name:  "units",
	Title: "systemd units of the node's roles are active and enabled",
	skip: func(t *Target) string {
		if len(t.Expect.Units) == 0 {
			return "no units expected on this node"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe { return []probe{{false, unitsArgv(t)}} },
	run: func(ctx context.Context, n *node) CheckResult {
		units := n.t.Expect.Units
		argv := unitsArgv(n.t)
		out, err := n.exec(ctx, false, argv...)
		if err != nil {
			return failed(err)
		}
		if out.Exit != 0 {
			return failedf("cannot read unit states: %s", commandFailed(argv, out))
		}
		props := parseShow(string(out.Stdout), len(units))
		var details []string
		bad := 0
		for i, u := range units {
			p := props[i]
			line := "  " + u + ": "
			switch {
			case p["LoadState"] == "not-found":
				details = append(details, line+"not installed (no such unit)")
				bad++
				continue
			case p["ActiveState"] == "active" && !enabledStates[p["UnitFileState"]]:
				details = append(details, line+fmt.Sprintf("active but %s: it will not start at the next boot (systemctl enable %s)", orDefault(p["UnitFileState"], "not enabled"), u))
				bad++
				continue
			case p["ActiveState"] == "active":
				continue
			case p["ActiveState"] != "":
				line += p["ActiveState"]
				if p["SubState"] != "" && p["SubState"] != p["ActiveState"] {
					line += " (" + p["SubState"] + ")"
				}
				if r := p["Result"]; r != "" && r != "success" {
					line += ", result " + r
				}
			default:
				line += "state unknown"
			}
			bad++
			details = append(details, line)
			journal, err := unitJournal(ctx, n, u)
			if err != nil {
				return failed(err)
			}
			details = append(details, journal...)
		}
		if bad == 0 {
			return passed("%d active: %s", len(units), strings.Join(units, ", "))
		}
		return failedf("%d of %d units not active and enabled:\n%s", bad, len(units), strings.Join(details, "\n"))
	},
}

func unitsArgv(t *Target) []string {
	return append([]string{"systemctl", "show", "-p", unitProps, "--"}, t.Expect.Units...)
}

// unitJournal returns a unit's last journal lines, indented for the report.
func unitJournal(ctx context.Context, n *node, unit string) ([]string, error) {
	if n.sudoErr != nil {
		return []string{"    (journal not read: sudo was refused)"}, nil
	}
	jargv := []string{"journalctl", "--no-pager", "-q", "-o", "cat", "-n", fmt.Sprint(journalLines), "-u", unit}
	jout, err := n.exec(ctx, true, jargv...)
	if err != nil {
		return nil, err
	}
	lines := lastLines(string(jout.Stdout), journalLines)
	if len(lines) == 0 {
		return []string{"    (no journal lines)"}, nil
	}
	out := []string{"    last journal lines:"}
	for _, l := range lines {
		out = append(out, "      "+l)
	}
	return out, nil
}

// parseShow reads `systemctl show -p … -- u1 u2`: one block of KEY=VALUE lines per unit,
// separated by blank lines. It always returns want maps.
func parseShow(text string, want int) []map[string]string {
	out := make([]map[string]string, want)
	for i := range out {
		out[i] = map[string]string{}
	}
	i := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == "" {
			if len(out[min(i, want-1)]) > 0 {
				i++
			}
			continue
		}
		if i >= want {
			break
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			out[i][k] = v
		}
	}
	return out
}
