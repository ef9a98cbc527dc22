package verify

import (
	"context"
	"fmt"
	"strings"
)

// journalLines is how many of a failed unit's last journal lines are shown.
const journalLines = 10

// checkUnits proves that the systemd units of the node's roles are active; for each that
// is not, it says its state and shows its last journal lines.
var checkUnits = &check{
	Name:  "units",
	Title: "systemd units of the node's roles are active",
	skip: func(t *Target) string {
		if len(t.Expect.Units) == 0 {
			return "no units expected on this node"
		}
		return ""
	},
	run: func(ctx context.Context, n *node) CheckResult {
		units := n.t.Expect.Units
		argv := append([]string{"systemctl", "is-active", "--"}, units...)
		out, err := n.exec(ctx, false, argv...)
		if err != nil {
			return failed(err)
		}
		states := strings.Fields(string(out.Stdout))
		if len(states) != len(units) {
			return failedf("cannot read unit states: %s", commandFailed(argv, out))
		}
		var bad []string
		for i, u := range units {
			if states[i] != "active" {
				bad = append(bad, u)
			}
		}
		if len(bad) == 0 {
			return passed("%d active: %s", len(units), strings.Join(units, ", "))
		}
		details, err := unitDetails(ctx, n, bad)
		if err != nil {
			return failed(err)
		}
		return failedf("%d of %d units not active:\n%s", len(bad), len(units), strings.Join(details, "\n"))
	},
}

// unitDetails says, for each unit, its states and last journal lines.
func unitDetails(ctx context.Context, n *node, units []string) ([]string, error) {
	argv := append([]string{"systemctl", "show", "-p", "Id,LoadState,ActiveState,SubState,Result", "--"}, units...)
	out, err := n.exec(ctx, false, argv...)
	if err != nil {
		return nil, err
	}
	props := parseShow(string(out.Stdout), len(units))
	var details []string
	for i, u := range units {
		p := props[i]
		line := "  " + u + ": "
		switch {
		case p["LoadState"] == "not-found":
			details = append(details, line+"not installed (no such unit)")
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
			line += "not active"
		}
		details = append(details, line)
		if n.sudoErr != nil {
			details = append(details, "    (journal not read: sudo was refused)")
			continue
		}
		jargv := []string{"journalctl", "--no-pager", "-q", "-o", "cat", "-n", fmt.Sprint(journalLines), "-u", u}
		jout, err := n.exec(ctx, true, jargv...)
		if err != nil {
			return nil, err
		}
		lines := lastLines(string(jout.Stdout), journalLines)
		if len(lines) == 0 {
			details = append(details, "    (no journal lines)")
			continue
		}
		details = append(details, "    last journal lines:")
		for _, l := range lines {
			details = append(details, "      "+l)
		}
	}
	return details, nil
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
