package providers

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// Limits is what a provider can boot.
type Limits struct {
	// Formats are the user-data formats the provider's machines boot.
	Formats []plan.Format
	// MaxUserData is the most user-data one machine takes, counted as Measure counts it;
	// 0 when kisgen knows of no limit.
	MaxUserData int
	// Measure counts a machine's user-data the way the provider sends it (compressed,
	// encoded). Nil: its length as rendered.
	Measure func(Machine) int
	// Counted says what Measure counts, for messages ("bytes, gzip+base64").
	Counted string
	// Remedy says what to do about user-data over the limit.
	Remedy string
}

func (l Limits) measure(m Machine) int {
	if l.Measure != nil {
		return l.Measure(m)
	}
	return len(m.UserData)
}

// formatPath is where the plan says a group's format: its format key when the group sets
// one apart from its operating system, else its os, which decides the format.
func formatPath(g *plan.Group) string {
	if g.Format != plan.FormatFor(g.OS) {
		return string(g.Role) + ".format"
	}
	return string(g.Role) + ".os"
}

// Check reports what in the plan the provider cannot boot: groups whose user-data format
// it does not boot, and what its Validate finds. Nothing is created or changed, and no
// credentials are needed: `kisgen validate` and `kisgen provision` run it first.
func Check(prov Provider, p *plan.Plan, opts Options) *report.Report {
	rep := &report.Report{}
	lim := prov.Limits(p)
	for _, r := range plan.Roles {
		g := p.Groups[r]
		if g == nil || len(p.NodesWith(r)) == 0 || slices.Contains(lim.Formats, g.Format) {
			continue
		}
		rep.Add(p.Finding(report.Error, formatPath(g),
			fmt.Sprintf("the %s provider boots %s user-data; the %s group's os %s gets %s", prov.Name(), formats(lim.Formats), r, g.OS, g.Format),
			fmt.Sprintf("use an os whose machines read %s, or another provider (the providers and the formats they boot are listed in docs/providers.md)", formats(lim.Formats))))
	}
	for _, f := range prov.Validate(p, opts) {
		rep.Add(f)
	}
	rep.Sort()
	return rep
}

func formats(fs []plan.Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, " and ")
}

// CheckUserData refuses, before anything is created, rendered user-data the provider does
// not take: a format it does not boot (`kisgen render --format` may have overridden the
// plan's), or more than its limit. Every node is named, with its size and what to do.
func CheckUserData(prov Provider, p *plan.Plan, machines []Machine) error {
	lim := prov.Limits(p)
	var errs []error
	for _, m := range machines {
		if !slices.Contains(lim.Formats, m.Format) {
			errs = append(errs, fmt.Errorf("%w: node %s: its user-data is %s; the %s provider boots %s (render it with `kisgen render --format %s`, or use another provider)",
				ErrFormat, m.Node.Host, m.Format, prov.Name(), formats(lim.Formats), lim.Formats[0]))
			continue
		}
		if lim.MaxUserData <= 0 {
			continue
		}
		if n := lim.measure(m); n > lim.MaxUserData {
			counted := "bytes"
			if lim.Counted != "" {
				counted = lim.Counted
			}
			errs = append(errs, fmt.Errorf("%w: node %s: its user-data is %d bytes, %d %s as the %s provider sends it, and it takes %d: %s",
				ErrUserDataTooLarge, m.Node.Host, len(m.UserData), n, counted, prov.Name(), lim.MaxUserData, lim.Remedy))
		}
	}
	return errors.Join(errs...)
}
