package cmd

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kisgen/kisgen/plan/wizard"
)

// Every command line in a command's help (Long, Example, flag usage) names real commands
// and flags, and a bare --flag there is one of that command's.
func TestHelpNamesRealFlags(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	var errs []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "completion" {
			return // cobra's own help text, with other tools' flags ($(brew --prefix))
		}
		texts := map[string]string{"Long": c.Long, "Short": c.Short}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { texts["--"+f.Name] = f.Usage })
		for what, text := range texts {
			where := c.CommandPath() + " " + what
			for _, inv := range findInvocations(root, where, text, false) {
				errs = append(errs, inv.check()...)
			}
			for _, f := range bareFlags(root, text) {
				if msg := flagProblem(c, f); msg != "" {
					errs = append(errs, where+": "+msg)
				}
			}
		}
		for _, inv := range findInvocations(root, c.CommandPath()+" Example", c.Example, true) {
			errs = append(errs, inv.check()...)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	for _, e := range errs {
		t.Error(e)
	}
}

// messageCommands says which commands show the messages of a package (or of one file of
// cmd/), so that a bare --flag in an error can be checked against them. all: the flag must
// be on every one of them (the message reaches the user through each); otherwise on one.
var messageCommands = map[string]struct {
	cmds []string
	all  bool
}{
	"plan/wizard":       {[]string{"plan"}, true},
	"pki":               {[]string{"certs rotate"}, true},
	"verify":            {[]string{"verify"}, true},
	"packer":            {[]string{"packer"}, true},
	"providers":         {[]string{"provision"}, true},
	"providers/qemu":    {[]string{"provision"}, true},
	"providers/ec2":     {[]string{"provision"}, true},
	"providers/vsphere": {[]string{"provision"}, true},
	"providers/metal":   {[]string{"provision"}, true},
	"providers/pxe":     {[]string{"provision", "bundle pxe", "serve pxe"}, true},
	// The instances record, which verify reads (LoadFor).
	"providers/instances": {[]string{"verify"}, true},
	// The per-user cache: every command that builds or reads cached binaries and images.
	"internal/cachedir": {[]string{"image build", "mirror build", "bundle pxe", "packer", "provision"}, true},
	// Output directories kisgen replaces as a whole: render's user-data and the PXE bundle.
	"internal/outdir":    {[]string{"render", "bundle pxe"}, true},
	"cmd/bundle.go":      {[]string{"bundle pxe"}, false},
	"cmd/certs.go":       {[]string{"certs issue", "certs list", "certs check", "certs rotate"}, false},
	"cmd/diff.go":        {[]string{"diff"}, false},
	"cmd/daytwo.go":      {[]string{"kubeconfig", "status", "upgrade"}, false},
	"cmd/image.go":       {[]string{"image build"}, false},
	"cmd/mirror.go":      {[]string{"mirror build", "mirror serve"}, false},
	"cmd/packer.go":      {[]string{"packer"}, false},
	"cmd/plan.go":        {[]string{"plan"}, false},
	"cmd/provision.go":   {[]string{"provision"}, false},
	"cmd/render.go":      {[]string{"render"}, false},
	"cmd/serve.go":       {[]string{"serve pxe"}, false},
	"cmd/validate.go":    {[]string{"validate"}, false},
	"cmd/verify.go":      {[]string{"verify"}, false},
	"cmd/version.go":     {[]string{"version"}, false},
	"cmd/docs.go":        {[]string{"docs man", "docs markdown"}, false},
	"cmd/conformance.go": {[]string{"conformance run", "conformance results"}, false},
	"conformance":        {[]string{"conformance run", "conformance results"}, true},
}

// formattedFlagNames are the files whose messages may build a flag name at run time, and
// why that is safe.
var formattedFlagNames = map[string]string{
	// The names are wizard.Questions' flags; TestWizardQuestionsAreFlags checks each.
	"plan/wizard/interview.go": "kisgen plan's question flags",
	// Flags of Kubernetes components a plan overrides, not kisgen's.
	"roles/kubernetes.go": "kube-proxy's flags",
	"plan/validate.go":    "the Kubernetes components' flags",
}

// messageFuncs are the calls whose string arguments are messages to the user, and which
// arguments: errors, usage errors, and the plan's findings (errorf(path, hint, format…),
// Finding(sev, path, msg, hint)).
var messageFuncs = map[string][]int{"Errorf": {0}, "New": {0}, "usageError": {0},
	"errorf": {1, 2}, "warnf": {1, 2}, "Finding": {2, 3}}

// Every kisgen command line in a string of kisgen's Go code names real commands and flags,
// and every bare --flag in an error message is a flag of the commands that show it.
func TestMessagesNameRealFlags(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	var errs []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "test" || rel == "templates" || rel != "." && strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		messages := map[*ast.BasicLit]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			name := ""
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			for _, i := range messageFuncs[name] {
				if i < len(call.Args) {
					if lit, ok := call.Args[i].(*ast.BasicLit); ok {
						messages[lit] = true
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			pos := fset.Position(lit.Pos())
			where := rel + ":" + strconv.Itoa(pos.Line)
			for _, inv := range findInvocations(root, where, s, false) {
				if _, ok := formattedFlagNames[rel]; ok {
					inv.flags = withoutFormatted(inv.flags)
				}
				errs = append(errs, inv.check()...)
			}
			if messages[lit] {
				errs = append(errs, checkBare(root, rel, where, bareFlags(root, s))...)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Error(e)
	}
}

func withoutFormatted(flags []string) []string {
	var out []string
	for _, f := range flags {
		if !strings.Contains(f, "%") {
			out = append(out, f)
		}
	}
	return out
}

// checkBare checks the bare flags of a message in file rel against the commands that show
// the file's messages.
func checkBare(root *cobra.Command, rel, where string, flags []string) []string {
	var errs []string
	entry, ok := messageCommands[rel]
	if !ok {
		entry, ok = messageCommands[filepath.ToSlash(filepath.Dir(rel))]
	}
	for _, f := range flags {
		if f == "--help" {
			continue
		}
		if strings.Contains(f, "%") {
			if _, ok := formattedFlagNames[rel]; !ok {
				errs = append(errs, where+": the flag name "+f+" is formatted at run time, so no test can check it: write it out")
			}
			continue
		}
		if !ok {
			errs = append(errs, where+": "+f+" in a message of "+rel+", which no entry of messageCommands covers: write the command (`kisgen CMD "+f+"`) or add an entry")
			continue
		}
		var problems []string
		for _, path := range entry.cmds {
			c, err := findCmd(root, path)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if msg := flagProblem(c, f); msg != "" {
				problems = append(problems, msg)
			}
		}
		if entry.all && len(problems) > 0 || !entry.all && len(problems) == len(entry.cmds) {
			errs = append(errs, where+": "+strings.Join(problems, "; ")+" (write the command the flag belongs to: `kisgen CMD "+f+"`)")
		}
	}
	return errs
}

// The wizard's errors name its questions' flags with --%s: each must be a flag of plan.
func TestWizardQuestionsAreFlags(t *testing.T) {
	plan, err := findCmd(NewRootCmd(nil, nil, nil), "plan")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range wizard.Questions() {
		if plan.Flags().Lookup(q.Flag) == nil {
			t.Errorf("question %q has no flag --%s on kisgen plan", q.Prompt, q.Flag)
		}
	}
}
