package conformance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// Spec is one spec of the suite, as `e2e.test --list-tests` prints it.
type Spec struct {
	// Name is the spec's full text: its containers' texts and its own, with the tags
	// ([Conformance], [sig-network]…) they carry.
	Name string `json:"name"`
	// Location is where the spec is written, e.g.
	// k8s.io/kubernetes@v1.37.2/test/e2e/network/dns.go:55.
	Location string `json:"location,omitempty"`
}

// listTests is the suite's flag that lists every spec's name and location.
const listTests = "--list-tests"

// ListSpecs runs the suite's binary with its --list-tests (it needs no cluster) and
// returns every spec.
func ListSpecs(ctx context.Context, e2eTest string) ([]Spec, error) {
	cmd := exec.CommandContext(ctx, e2eTest, listTests)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", e2eTest, listTests, err, lastLine(stderr.String()))
	}
	specs := ParseSpecList(out)
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s %s listed no specs", e2eTest, listTests)
	}
	return specs, nil
}

// specLine is a line of --list-tests: "    FILE:LINE: NAME".
var specLine = regexp.MustCompile(`^\s+(\S+:\d+): (.+)$`)

// ParseSpecList reads what `e2e.test --list-tests` prints: a heading, then one spec a
// line, indented, after its location.
func ParseSpecList(out []byte) []Spec {
	var specs []Spec
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := specLine.FindStringSubmatch(sc.Text()); m != nil {
			specs = append(specs, Spec{Name: m[2], Location: m[1]})
		}
	}
	return specs
}

// Matcher decides as ginkgo does which specs a selection runs: those whose text, after
// the suite's description, matches one of the focus expressions and none of the skip
// expressions (ginkgo joins each list with |).
type Matcher struct {
	focus, skip *regexp.Regexp
}

// NewMatcher compiles s's expressions.
func NewMatcher(s Selection) (*Matcher, error) {
	var m Matcher
	var err error
	if len(s.Focus) > 0 {
		if m.focus, err = regexp.Compile(strings.Join(s.Focus, "|")); err != nil {
			return nil, fmt.Errorf("%w: focus: %v", ErrBadRegexp, err)
		}
	}
	if len(s.Skip) > 0 {
		if m.skip, err = regexp.Compile(strings.Join(s.Skip, "|")); err != nil {
			return nil, fmt.Errorf("%w: skip: %v", ErrBadRegexp, err)
		}
	}
	return &m, nil
}

// suiteDescription is the e2e suite's name, which ginkgo puts before a spec's text.
const suiteDescription = "Kubernetes e2e suite"

// Runs says whether the spec named name is selected.
func (m *Matcher) Runs(name string) bool {
	text := suiteDescription + " " + name
	return (m.focus == nil || m.focus.MatchString(text)) && (m.skip == nil || !m.skip.MatchString(text))
}

// Selected are the specs of all that s runs, in all's order.
func Selected(all []Spec, s Selection) ([]Spec, error) {
	m, err := NewMatcher(s)
	if err != nil {
		return nil, err
	}
	var out []Spec
	for _, sp := range all {
		if m.Runs(sp.Name) {
			out = append(out, sp)
		}
	}
	return out, nil
}

// LeftOut are, for each set of s.Unrunnable, the specs the mode's focus would run but
// kisgen skips, so that a summary names them with the reason. With the suite's specs
// (all), a name the suite does not have is not listed.
func LeftOut(all []Spec, s Selection) ([]Unrunnable, error) {
	focusOnly := s
	focusOnly.Skip = nil
	m, err := NewMatcher(focusOnly)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, sp := range all {
		have[sp.Name] = true
	}
	var out []Unrunnable
	for _, u := range s.Unrunnable {
		var specs []string
		for _, n := range u.Specs {
			if (len(all) == 0 || have[n]) && m.Runs(n) {
				specs = append(specs, n)
			}
		}
		if len(specs) > 0 {
			out = append(out, Unrunnable{Specs: specs, Reason: u.Reason})
		}
	}
	return out, nil
}

// MissingNamed are the spec names a mode lists one by one (quick, and network's specs
// beyond conformance) that the suite does not have: a newer suite that renamed a spec
// would otherwise run less than the mode says, silently.
func MissingNamed(all []Spec, mode Mode) []string {
	var named []string
	switch mode {
	case ModeQuick:
		named = quickSpecs
	case ModeNetwork:
		named = networkExtraSpecs
	}
	have := map[string]bool{}
	for _, sp := range all {
		have[sp.Name] = true
	}
	var out []string
	for _, n := range named {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
