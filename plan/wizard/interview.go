package wizard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// Options configures an interview.
type Options struct {
	// Given holds answers given as flags, by flag name (Question.Flag). They are checked
	// like typed answers and never asked.
	Given map[string]string
	// Nodes are --node values, ROLE:HOST=IP[/INTERNAL_IP]. With any, the node counts
	// follow from them and no node is asked.
	Nodes []string
	// MACs are --mac values, HOST=MAC, for the PXE provider.
	MACs []string
	// NonInteractive takes the default of every question not given as a flag, and fails
	// on a question without one.
	NonInteractive bool
	// Echo writes each typed answer after its prompt; for input that is not a terminal,
	// which would otherwise leave the transcript without the answers.
	Echo bool
	// PlanDir is the directory the plan will be written to; the SSH key is looked up there.
	PlanDir string
}

// Interview asks the questions on out, reads the answers from in, and returns them. A
// wrong answer is explained and asked again; each answer is checked by package plan's
// own rules on the plan written so far, so that what the interview accepts validates.
func Interview(in io.Reader, out io.Writer, opts Options) (*Answers, error) {
	iv := &interview{in: bufio.NewReader(in), out: out, opts: opts, a: NewAnswers(), provisional: true}
	iv.a.planDir = opts.PlanDir
	if opts.PlanDir == "" {
		iv.a.planDir = "."
	}
	for name := range opts.Given {
		if questionByFlag(name) == nil {
			return nil, fmt.Errorf("%w: no question is answered by --%s", ErrBadFlag, name)
		}
	}
	if err := iv.nodeFlags(); err != nil {
		return nil, err
	}
	if !opts.NonInteractive {
		fmt.Fprintln(out, "Answer each question, or press Enter to take the suggestion in brackets.")
		fmt.Fprintln(out, "End the input (Ctrl-D) to stop without writing anything.")
	}
	for _, q := range questions {
		var err error
		switch q.Flag {
		case "addressing":
			if err = iv.nodes(); err == nil {
				err = iv.macs()
			}
		case "base-ip", "name-prefix":
			continue // asked by nodes
		default:
			err = iv.ask(q)
		}
		if err != nil {
			return nil, err
		}
	}
	return iv.a, nil
}

type interview struct {
	in      *bufio.Reader
	out     io.Writer
	opts    Options
	a       *Answers
	section string
	// provisional is true until the node step: checks then use the generated layout for
	// the counts so far.
	provisional bool
	// explicitNodes is set when --node gave the nodes.
	explicitNodes bool
	// macsAsked is set once the MAC addresses are being asked.
	macsAsked bool
}

// nodeFlags reads --node values and makes the counts follow from them.
func (iv *interview) nodeFlags() error {
	if len(iv.opts.Nodes) == 0 {
		return nil
	}
	counts := map[plan.Role]int{}
	for _, s := range iv.opts.Nodes {
		n, err := ParseNodeFlag(s)
		if err != nil {
			return fmt.Errorf("%w: --node: %v", ErrBadFlag, err)
		}
		iv.a.Nodes = append(iv.a.Nodes, n)
		counts[n.Role]++
	}
	if iv.opts.Given == nil {
		iv.opts.Given = map[string]string{}
	}
	given := map[string]string{}
	for k, v := range iv.opts.Given {
		given[k] = v
	}
	for flag, r := range map[string]plan.Role{"etcd": plan.RoleEtcd, "masters": plan.RoleMaster, "workers": plan.RoleWorker} {
		want := strconv.Itoa(counts[r])
		if v, ok := given[flag]; ok && v != want {
			return fmt.Errorf("%w: --%s=%s, but --node lists %s %s nodes", ErrBadFlag, flag, v, want, r)
		}
		given[flag] = want
	}
	for _, f := range []string{"addressing", "base-ip", "name-prefix"} {
		if v, ok := given[f]; ok && (f != "addressing" || v != "list") {
			return fmt.Errorf("%w: --%s generates nodes; --node lists them: use one or the other", ErrBadFlag, f)
		}
	}
	given["addressing"] = "list"
	iv.opts.Given = given
	iv.explicitNodes = true
	return nil
}

// ask asks one question until it gets a valid answer, or takes its flag or default.
func (iv *interview) ask(q *Question) error {
	given, isGiven := iv.opts.Given[q.Flag]
	if q.Flag == "" {
		isGiven = false
	}
	if !isGiven && q.When != nil && !q.When(iv.a) {
		return nil
	}
	if isGiven {
		if err := iv.apply(q, given); err != nil {
			return fmt.Errorf("%w: --%s=%s: %v", ErrBadFlag, q.Flag, given, err)
		}
		return nil
	}
	def := q.Default(iv.a)
	if iv.opts.NonInteractive {
		if def == "" && q.Required {
			return fmt.Errorf("%w: --%s is needed: %s", ErrBadFlag, q.Flag, q.Usage)
		}
		if err := iv.apply(q, def); err != nil {
			return fmt.Errorf("%w: the default of --%s (%q) does not fit the other answers: %v", ErrBadFlag, q.Flag, def, err)
		}
		return nil
	}
	if q.Section != iv.section {
		iv.section = q.Section
		fmt.Fprintf(iv.out, "\n%s\n", q.Section)
	}
	for {
		if def != "" {
			fmt.Fprintf(iv.out, "  %s [%s]: ", q.Prompt, def)
		} else {
			fmt.Fprintf(iv.out, "  %s: ", q.Prompt)
		}
		line, err := iv.readLine()
		if err != nil {
			return err
		}
		v := strings.TrimSpace(line)
		if v == "" {
			v = def
		}
		if v == "" && q.Required {
			fmt.Fprintln(iv.out, "    ! an answer is needed")
			continue
		}
		if err := iv.apply(q, v); err != nil {
			fmt.Fprintf(iv.out, "    ! %s\n", strings.ReplaceAll(err.Error(), "\n", "\n      "))
			continue
		}
		return nil
	}
}

func (iv *interview) readLine() (string, error) {
	line, err := iv.in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(iv.out)
			return "", ErrInputEnded
		}
		return "", fmt.Errorf("read answer: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if iv.opts.Echo {
		fmt.Fprintln(iv.out, line)
	}
	return line, nil
}

// apply stores an answer and checks the plan it makes; a rejected answer leaves the
// answers as they were.
func (iv *interview) apply(q *Question, v string) error {
	saved := *iv.a
	saved.Nodes = append([]NodeAnswer(nil), iv.a.Nodes...)
	if err := q.Set(iv.a, v); err != nil {
		*iv.a = saved
		return err
	}
	if len(q.Paths) == 0 {
		return nil
	}
	// Errors with the same hint (five node addresses inside the pod range) are one
	// problem: say it once.
	var hints []string
	byHint := map[string][]string{}
	for _, f := range iv.check(q.Paths) {
		switch f.Severity {
		case report.Error:
			if _, ok := byHint[f.Hint]; !ok {
				hints = append(hints, f.Hint)
			}
			byHint[f.Hint] = append(byHint[f.Hint], f.Message)
		case report.Warning:
			if !iv.opts.NonInteractive {
				fmt.Fprintf(iv.out, "    note: %s\n", f.Message)
			}
		}
	}
	if len(hints) == 0 {
		return nil
	}
	*iv.a = saved
	var msgs []string
	for _, h := range hints {
		m := byHint[h][0]
		if n := len(byHint[h]) - 1; n > 0 {
			m += fmt.Sprintf(" (and %d more like it)", n)
		}
		msgs = append(msgs, m+"\n"+h)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// check runs package plan's rules on the plan the answers make and returns the findings
// at paths.
func (iv *interview) check(paths []string) []report.Finding {
	cand := *iv.a
	if iv.provisional && !iv.explicitNodes {
		nodes, err := GenerateNodes(&cand)
		if err != nil {
			return nil // the node step reports it
		}
		cand.Nodes = nodes
	}
	p, opts := cand.Plan()
	data, err := Encode(p, opts)
	if err != nil {
		return []report.Finding{{Severity: report.Error, Message: err.Error()}}
	}
	_, rep := plan.Parse("answers", data, plan.Options{})
	var out []report.Finding
	for _, f := range rep.Findings {
		if !iv.macsAsked && strings.HasSuffix(f.Path, ".mac") {
			continue // asked after the nodes
		}
		for _, p := range paths {
			if under(f.Path, p) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// under says whether path is p or a key inside it; a p ending in "[" matches the items of
// a list ("etcd.nodes" is the group's findings, "etcd.nodes[" every node's).
func under(path, p string) bool {
	if strings.HasSuffix(p, "[") {
		return strings.HasPrefix(path, p)
	}
	return path == p || strings.HasPrefix(path, p+".")
}

// nodes decides the nodes' names and addresses: from --node, generated from a base IP,
// or typed one by one.
func (iv *interview) nodes() error {
	iv.provisional = false
	if iv.explicitNodes {
		if err := iv.ask(questionByFlag("addressing")); err != nil {
			return err
		}
		var errs []string
		for _, f := range iv.check([]string{"etcd.nodes[", "master.nodes[", "worker.nodes[", "ingress.nodes[", "storage.nodes["}) {
			if f.Severity == report.Error {
				errs = append(errs, fmt.Sprintf("%s: %s (%s)", f.Path, f.Message, f.Hint))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: --node: %s", ErrBadFlag, strings.Join(errs, "; "))
		}
		return nil
	}
	if err := iv.ask(questionByFlag("addressing")); err != nil {
		return err
	}
	if iv.a.Addressing == "generate" {
		nodes, err := GenerateNodes(iv.a)
		if err != nil {
			return err
		}
		iv.a.Nodes = nodes
		for _, f := range []string{"base-ip", "name-prefix"} {
			if err := iv.ask(questionByFlag(f)); err != nil {
				return err
			}
		}
		if !iv.opts.NonInteractive {
			iv.showNodes()
		}
		return nil
	}
	if iv.opts.NonInteractive {
		return fmt.Errorf("%w: --addressing=list needs the nodes: give each with --node ROLE:HOST=IP", ErrBadFlag)
	}
	iv.a.Nodes = nil
	for _, g := range []struct {
		role  plan.Role
		count int
	}{{plan.RoleEtcd, iv.a.Etcd}, {plan.RoleMaster, iv.a.Masters}, {plan.RoleWorker, iv.a.Workers}} {
		for i := 0; i < g.count; i++ {
			if err := iv.askNode(g.role, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// askNode asks one node's host name, ip and internal ip.
func (iv *interview) askNode(role plan.Role, i int) error {
	path := fmt.Sprintf("%s.nodes[%d]", role, i)
	label := fmt.Sprintf("%s node %d", role, i+1)
	last := func(a *Answers) *NodeAnswer { return &a.Nodes[len(a.Nodes)-1] }
	nextIP := ""
	if n := len(iv.a.Nodes); n > 0 {
		if prev, err := netip.ParseAddr(iv.a.Nodes[n-1].IP); err == nil && prev.Next().IsValid() {
			nextIP = prev.Next().String()
		}
	}
	steps := []*Question{
		{Section: "Nodes", Prompt: label + ": host name", Default: constant(fmt.Sprintf("%s%d", role, i+1)), Required: true,
			Set: func(a *Answers, v string) error {
				a.Nodes = append(a.Nodes, NodeAnswer{Role: role, Host: v})
				return nil
			}, Paths: []string{path + ".host"}},
		{Section: "Nodes", Prompt: label + ": ip kisgen reaches it at", Default: constant(nextIP), Required: true,
			Set: func(a *Answers, v string) error { last(a).IP = v; return nil }, Paths: []string{path + ".ip"}},
		{Section: "Nodes", Prompt: label + ": internal ip for cluster traffic (empty: the same)", Default: constant(""),
			Set: func(a *Answers, v string) error { last(a).InternalIP = v; return nil }, Paths: []string{path + ".internal_ip"}},
	}
	for _, q := range steps {
		if err := iv.ask(q); err != nil {
			return err
		}
	}
	return nil
}

// macs asks the PXE provider's MAC address of every node.
func (iv *interview) macs() error {
	given := map[string]string{}
	for _, s := range iv.opts.MACs {
		host, mac, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%w: --mac %q is not HOST=MAC", ErrBadFlag, s)
		}
		given[host] = mac
	}
	hosts := map[string]bool{}
	for _, n := range iv.a.Nodes {
		hosts[n.Host] = true
	}
	for host := range given {
		if !hosts[host] {
			return fmt.Errorf("%w: --mac %s: no node is named %s", ErrBadFlag, host, host)
		}
	}
	pxe := iv.a.Provider == "pxe"
	iv.macsAsked = true
	index := map[plan.Role]int{}
	for i := range iv.a.Nodes {
		n := &iv.a.Nodes[i]
		path := fmt.Sprintf("%s.nodes[%d].mac", n.Role, index[n.Role])
		index[n.Role]++
		host := n.Host
		q := &Question{Section: "Nodes", Prompt: "MAC address of " + host + "'s boot interface", Default: constant(""), Required: true,
			Set: func(a *Answers, v string) error { a.Nodes[i].MAC = strings.ToLower(v); return nil }, Paths: []string{path}}
		if mac, ok := given[host]; ok {
			if err := iv.apply(q, mac); err != nil {
				return fmt.Errorf("%w: --mac %s=%s: %v", ErrBadFlag, host, mac, err)
			}
			continue
		}
		if !pxe {
			continue // MAC addresses are optional but for PXE boot
		}
		if iv.opts.NonInteractive {
			return fmt.Errorf("%w: PXE boot needs every node's MAC address: give --mac %s=MAC", ErrBadFlag, host)
		}
		if err := iv.ask(q); err != nil {
			return err
		}
	}
	return nil
}

func (iv *interview) showNodes() {
	var b strings.Builder
	for i, n := range iv.a.Nodes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", n.Host, n.IP)
	}
	fmt.Fprintf(iv.out, "    nodes: %s\n", b.String())
}
