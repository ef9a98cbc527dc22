package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// WriteTable prints one row per node and check, then a summary line. A multi-line detail
// continues on indented lines below its row. A run of three or more checks skipped for
// the same reason (say, all those after a failed login) is one row "first…last".
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCHECK\tSTATUS\tDETAIL")
	for _, n := range r.Nodes {
		for i := 0; i < len(n.Checks); i++ {
			c := n.Checks[i]
			name := c.Name
			if c.Status == Skip {
				j := i
				for j+1 < len(n.Checks) && n.Checks[j+1].Status == Skip && n.Checks[j+1].Detail == c.Detail {
					j++
				}
				if j-i >= 2 {
					name = c.Name + "…" + n.Checks[j].Name
					c.Detail = fmt.Sprintf("%s (%d checks)", c.Detail, j-i+1)
					i = j
				}
			}
			lines := strings.Split(strings.TrimRight(c.Detail, "\n"), "\n")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Host, name, c.Status, lines[0])
			for _, l := range lines[1:] {
				fmt.Fprintf(tw, "\t\t\t%s\n", l)
			}
		}
	}
	for _, c := range r.Cluster {
		lines := strings.Split(strings.TrimRight(c.Detail, "\n"), "\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", "(cluster)", c.Name, c.Status, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t\t\t%s\n", l)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, Summary(r))
	return err
}

// Summary is one line: how many nodes passed, and which failed where.
func Summary(r *Report) string {
	var failing []string
	for _, n := range r.Nodes {
		if f := n.FirstFailure(); f != nil {
			failing = append(failing, n.Host+" ("+f.Name+")")
		}
	}
	s := fmt.Sprintf("verify: %d nodes, %d pass, %d fail", len(r.Nodes), len(r.Nodes)-len(failing), len(failing))
	if r.Rounds > 1 {
		s += fmt.Sprintf(" after %d rounds", r.Rounds)
	}
	s += fmt.Sprintf(" in %s", r.Elapsed.Round(100*time.Millisecond))
	if len(failing) > 0 {
		const show = 10
		more := ""
		if len(failing) > show {
			more = fmt.Sprintf(" and %d more", len(failing)-show)
			failing = failing[:show]
		}
		s += ": " + strings.Join(failing, ", ") + more
	}
	var cluster []string
	for _, c := range r.Cluster {
		if c.Status == Fail {
			cluster = append(cluster, c.Name)
		}
	}
	if len(cluster) > 0 {
		s += "; cluster checks failing: " + strings.Join(cluster, ", ")
	}
	return s
}

// WriteJSON prints the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	out := struct {
		*Report
		ElapsedSeconds float64 `json:"elapsedSeconds"`
	}{r, r.Elapsed.Seconds()}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Progress shows a run as it goes. On a terminal it redraws a block: a status line and
// the failing nodes. Elsewhere it prints a plain line whenever a node's state changes and
// one per round.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	width   int
	rows    int
	start   time.Time
	timeout time.Duration
	hosts   []string
	index   map[string]int
	state   []string // per node: "" not checked yet, "ok", or "CHECK: detail"
	round   int
	drawn   int // lines of the block on screen
}

// NewProgress shows progress for targets on w. tty selects redrawing (width and rows are
// the terminal's size; 0 means 80x24); timeout is the --wait time shown.
func NewProgress(w io.Writer, tty bool, width, rows int, targets []Target, timeout time.Duration) *Progress {
	if width <= 0 {
		width = 80
	}
	if rows <= 0 {
		rows = 24
	}
	p := &Progress{w: w, tty: tty, width: width, rows: rows, start: time.Now(), timeout: timeout,
		index: map[string]int{}, state: make([]string, len(targets))}
	for i, t := range targets {
		p.hosts = append(p.hosts, t.Host)
		p.index[t.Host] = i
	}
	return p
}

// Node records one node's result; use it as Options.OnNode.
func (p *Progress) Node(round int, r NodeResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.index[r.Host]
	if !ok {
		return
	}
	st := "ok"
	if f := r.FirstFailure(); f != nil {
		st = f.Name + ": " + firstLine(f.Detail)
	}
	changed := p.state[i] != st
	p.state[i], p.round = st, round
	if p.tty {
		p.draw()
	} else if changed {
		fmt.Fprintf(p.w, "verify: round %d: %s: %s\n", round, r.Host, st)
	}
}

// Round reports a finished round; use it as WaitOptions.OnRound.
func (p *Progress) Round(r *Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.draw()
		return
	}
	pass := 0
	for _, n := range r.Nodes {
		if n.OK {
			pass++
		}
	}
	fmt.Fprintf(p.w, "verify: round %d done after %s: %d of %d nodes pass\n", r.Rounds, time.Since(p.start).Round(time.Second), pass, len(r.Nodes))
}

// Done removes the live block from a terminal, so the final report follows cleanly.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\r\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// draw rewrites the block in place: cursor up over the previous block, each line
// cleared and rewritten, anything left below cleared.
func (p *Progress) draw() {
	pass, fail, pending := 0, 0, 0
	var failing []string
	for i, s := range p.state {
		switch s {
		case "":
			pending++
		case "ok":
			pass++
		default:
			fail++
			failing = append(failing, p.hosts[i]+": "+s)
		}
	}
	lines := []string{fmt.Sprintf("verify: round %d, %s of %s: %d pass, %d fail, %d not checked yet",
		p.round, time.Since(p.start).Round(time.Second), p.timeout, pass, fail, pending)}
	room := p.rows - 2
	if len(failing) > room {
		extra := len(failing) - room + 1
		failing = append(failing[:room-1], fmt.Sprintf("… and %d more failing", extra))
	}
	for _, f := range failing {
		lines = append(lines, "  "+f)
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(clip(l, p.width-1))
		b.WriteString("\n")
	}
	b.WriteString("\x1b[J")
	_, _ = io.WriteString(p.w, b.String())
	p.drawn = len(lines)
}

// clip shortens s to at most n characters so that no line wraps.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
