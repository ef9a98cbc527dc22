package cmd

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// This file checks that every kisgen command line written for a user — in --help, in
// error messages and hints, in the README and docs/ — names commands and flags that exist.
// A hint that points at a flag the command does not have (`provision pxe` once sent users
// to --kernel, a flag of `bundle pxe` only) is a dead end for whoever reads it.

// invocationStart finds "kisgen " where it begins a command line: at the start, after
// space, punctuation or a path ("./bin/kisgen"), not inside a word ("gokisgen").
var invocationStart = regexp.MustCompile(`(?:^|[^\w.-])kisgen[ \t]+`)

// segmentEnd ends a command line: a code span or quote, a shell operator or redirection, a
// comment, a line break.
var segmentEnd = regexp.MustCompile("[`'\"]|&&|\\|\\||;|\\||\\$\\(|\\s[<>#]|\\n|\\)")

// ref is one use of a flag or subcommand found in text, with where it was found.
type ref struct {
	where string // file:line or command path
	text  string // the command line as written
}

// invocation is a parsed "kisgen SUB... [--flag|-f|arg]..." command line.
type invocation struct {
	ref
	cmd   *cobra.Command
	flags []string // as written: "--out", "-f"
	// unknownSub is a word where a subcommand was needed ("certs chek").
	unknownSub string
}

// findInvocations returns every command line in text. strict says text is code (a line of
// a shell block): there a line "kisgen WORD" whose WORD is no subcommand is a mistake,
// while in prose ("kisgen writes…") it is just a sentence and is skipped.
func findInvocations(root *cobra.Command, where, text string, strict bool) []invocation {
	text = strings.ReplaceAll(text, "\\\n", " ") // shell line continuations
	var out []invocation
	for _, loc := range invocationStart.FindAllStringIndex(text, -1) {
		rest := text[loc[1]:]
		if e := segmentEnd.FindStringIndex(rest); e != nil {
			rest = rest[:e[0]]
		}
		// In prose, a command quoted as code ('kisgen …' or `kisgen …`) is code.
		quoted := strict || loc[0] < len(text) && strings.ContainsRune("`'", rune(text[loc[0]]))
		inv, ok := parseInvocation(root, rest, quoted)
		if !ok {
			continue
		}
		inv.where = where
		inv.text = "kisgen " + strings.TrimSpace(rest)
		out = append(out, inv)
	}
	return out
}

func parseInvocation(root *cobra.Command, line string, strict bool) (invocation, bool) {
	words := strings.Fields(line)
	for i, w := range words {
		words[i] = strings.TrimRight(w, ".,:")
	}
	inv := invocation{cmd: root}
	i := 0
	for ; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") {
			break
		}
		sub := childNamed(inv.cmd, w)
		if sub == nil {
			// A group (certs, mirror…) takes no argument but a subcommand, even once it has
			// a RunE that answers a typo.
			if !strict && (inv.cmd == root || inv.cmd.HasSubCommands()) {
				return inv, false // prose: "kisgen turns a plan…", "kisgen mirror the build machine…"
			}
			if inv.cmd.HasSubCommands() {
				inv.unknownSub = w
			}
			break
		}
		inv.cmd = sub
	}
	if inv.cmd == root && i == len(words) && !strict {
		return inv, false
	}
	for ; i < len(words); i++ {
		if w := words[i]; strings.HasPrefix(w, "-") && len(w) > 1 && w != "--" && !isNumber(w[1:]) {
			inv.flags = append(inv.flags, w)
		}
	}
	return inv, true
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789.") == ""
}

func childNamed(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

// check returns what is wrong with the invocation: an unknown subcommand or flag.
func (inv invocation) check() []string {
	var errs []string
	if inv.unknownSub != "" {
		errs = append(errs, fmt.Sprintf("%s: `%s`: %s has no subcommand %q", inv.where, inv.text, inv.cmd.CommandPath(), inv.unknownSub))
	}
	for _, f := range inv.flags {
		if msg := flagProblem(inv.cmd, f); msg != "" {
			errs = append(errs, fmt.Sprintf("%s: `%s`: %s", inv.where, inv.text, msg))
		}
	}
	return errs
}

// flagProblem says why flag (as written: --name, --name=value, -x) is not a flag of c,
// or "" when it is one (its own, or inherited).
func flagProblem(c *cobra.Command, flag string) string {
	if strings.HasPrefix(flag, "--") {
		name, _, _ := strings.Cut(flag[2:], "=")
		if strings.Contains(name, "%") {
			return fmt.Sprintf("the flag name %s is formatted at run time, so it cannot be checked: write it out", flag)
		}
		if name == "help" || c.Flag(name) != nil {
			return ""
		}
		return fmt.Sprintf("%s has no flag --%s", c.CommandPath(), name)
	}
	short := flag[1:2]
	if short == "h" {
		return ""
	}
	for x := c; x != nil; x = x.Parent() {
		if f := x.Flags().ShorthandLookup(short); f != nil {
			return ""
		}
		if f := x.PersistentFlags().ShorthandLookup(short); f != nil {
			return ""
		}
	}
	return fmt.Sprintf("%s has no flag -%s", c.CommandPath(), short)
}

// bareFlags returns the --flags in text that are not part of a kisgen command line.
var bareFlag = regexp.MustCompile(`(?:^|[^\w-])(--[a-z%][\w%-]*(?:=[^\s,;)` + "`" + `]*)?)`)

func bareFlags(root *cobra.Command, text string) []string {
	text = strings.ReplaceAll(text, "\\\n", " ")
	// Blank out every kisgen command line first; what is left is attributed by the caller.
	for _, loc := range invocationStart.FindAllStringIndex(text, -1) {
		end := len(text)
		if e := segmentEnd.FindStringIndex(text[loc[1]:]); e != nil {
			end = loc[1] + e[0]
		}
		if _, ok := parseInvocation(root, text[loc[1]:end], false); ok {
			text = text[:loc[0]] + strings.Repeat(" ", end-loc[0]) + text[end:]
		}
	}
	var out []string
	for _, m := range bareFlag.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}
