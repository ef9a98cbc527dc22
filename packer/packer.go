package packer

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// Builders kisgen writes templates for.
const (
	BuilderQEMU    = "qemu"
	BuilderAWS     = "amazon-ebs"
	BuilderVSphere = "vsphere-clone"
)

// Builders lists the builder names, sorted.
func Builders() []string { return []string{BuilderAWS, BuilderQEMU, BuilderVSphere} }

// builderFor maps a plan provider to the builder of its images: local VMs, PXE and
// Equinix Metal boot disk images made by qemu.
var builderFor = map[string]string{
	"qemu": BuilderQEMU, "pxe": BuilderQEMU, "packet": BuilderQEMU, "metal": BuilderQEMU,
	"aws": BuilderAWS, "vsphere": BuilderVSphere,
}

// TemplateFile is the HCL2 file in each template directory.
const TemplateFile = "kisgen.pkr.hcl"

// Options configure Generate.
type Options struct {
	// Out is the output directory: one sub-directory per template, the build key beside
	// them. Paths in the templates to the plan's image cache are relative to it.
	Out string
	// Builders overrides the builder the plan's provider implies (Builders()).
	Builders []string
	// Checksums are the plan's pinned sums (mirror.checksums), by mirror path.
	Checksums map[string]string
	// BuildKey is the build SSH key's authorized_keys line (LoadOrCreateBuildKey).
	BuildKey string
	// BaseImages is where `kisgen image build` published the base images (the per-user
	// cache's images/, internal/cachedir): the qemu templates' base_image defaults to
	// BaseImages/OS. Empty: the plan's own .cache/images, like the baked image. The
	// baked image is the plan's (it holds the plan's binaries) and always defaults to
	// .cache/images/OS-baked beside the plan.
	BaseImages string
}

// Template is one generated Packer template and the files beside it.
type Template struct {
	// Name is the template's directory: BUILDER-OS, e.g. qemu-debian-12.
	Name    string
	Builder string
	OS      string
	// Binaries and Archives are what the image bakes in.
	Binaries []Binary
	Archives []Archive
	// Notes say what the image does not bake and why.
	Notes []string
	// Files are the template directory's files by relative path (kisgen.pkr.hcl,
	// bake.sh, http/user-data…).
	Files map[string][]byte
}

// Result is what Generate made.
type Result struct {
	Templates []Template
	// Report holds findings about the plan: node groups whose operating system cannot
	// be baked (warnings).
	Report *report.Report
}

// Generate writes, in memory, a template for every builder and operating system of the
// plan. It reads nothing but its arguments and never changes the plan.
func Generate(p *plan.Plan, opts Options) (*Result, error) {
	builders := opts.Builders
	if len(builders) == 0 {
		b, ok := builderFor[p.Provider.Name]
		if !ok {
			return nil, fmt.Errorf("%w: provider %q has no image builder; choose one with --builder (%s)", ErrNothingToBake, p.Provider.Name, strings.Join(Builders(), ", "))
		}
		builders = []string{b}
	}
	seen := map[string]bool{}
	var uniq []string
	for _, b := range builders {
		if !contains(Builders(), b) {
			return nil, fmt.Errorf("%w: %q (kisgen writes %s)", ErrUnknownBuilder, b, strings.Join(Builders(), ", "))
		}
		if !seen[b] {
			seen[b] = true
			uniq = append(uniq, b)
		}
	}
	sort.Strings(uniq)

	rep := &report.Report{}
	// Every operating system of the plan, with the first node group that runs it (for
	// the warning's position).
	var oses []string
	roleOf := map[string]plan.Role{}
	for _, n := range p.Nodes {
		o := nodeOS(n)
		if _, ok := roleOf[o]; ok {
			continue
		}
		role := plan.RoleWorker
		if n.Group != nil {
			role = n.Group.Role
		}
		roleOf[o] = role
		oses = append(oses, o)
	}
	sort.Strings(oses)
	type job struct{ builder, os string }
	var jobs []job
	for _, b := range uniq {
		for _, o := range oses {
			if contains(BakeableOS(b), o) {
				jobs = append(jobs, job{b, o})
				continue
			}
			role := roleOf[o]
			rep.Add(p.Finding(report.Warning, string(role)+".os",
				fmt.Sprintf("no %s image is baked for %s: %s", b, o, whyNotBakeable(b, o)),
				fmt.Sprintf("use one of %s for the %s group to bake its image, or give its nodes an image that holds the binaries", strings.Join(BakeableOS(b), ", "), role)))
		}
	}
	if len(jobs) == 0 {
		return &Result{Report: rep}, fmt.Errorf("%w: no node runs an operating system %s bakes (%s)", ErrNothingToBake,
			strings.Join(uniq, " or "), strings.Join(BakeableOS(uniq[0]), ", "))
	}

	res := &Result{Report: rep}
	for _, j := range jobs {
		t, err := template(p, j.builder, j.os, opts)
		if err != nil {
			return nil, err
		}
		res.Templates = append(res.Templates, *t)
	}
	return res, nil
}

// BakeableOS lists the operating systems builder makes images of. The bake script installs
// Debian-family packages with apt; the qemu builder starts from a `kisgen image build`
// image (Debian only), the cloud builders from the distribution's own image.
func BakeableOS(builder string) []string {
	out := image.SupportedOS()
	if builder != BuilderQEMU {
		out = append(out, sortedKeys(ubuntuAMIName)...)
	}
	sort.Strings(out)
	return out
}

func whyNotBakeable(builder, osName string) string {
	if builder == BuilderQEMU && ubuntuAMIName[osName] != "" {
		return "the qemu builder starts from a `kisgen image build` image, which is Debian"
	}
	return "the bake script installs Debian and Ubuntu packages with apt"
}

func template(p *plan.Plan, builder, osName string, opts Options) (*Template, error) {
	bins, archives, notes, err := content(p, osName, opts.Checksums)
	if err != nil {
		return nil, err
	}
	files, err := imageFilesTar()
	if err != nil {
		return nil, err
	}
	t := &Template{Name: builder + "-" + osName, Builder: builder, OS: osName, Binaries: bins, Archives: archives, Notes: notes,
		Files: map[string][]byte{"bake.sh": image.BakeScript, ImageFilesTar: files}}
	if builder != BuilderAWS {
		ud, err := buildUserData(opts.BuildKey)
		if err != nil {
			return nil, err
		}
		md, err := buildMetaData(osName)
		if err != nil {
			return nil, err
		}
		t.Files["http/user-data"] = ud
		t.Files["http/meta-data"] = md
		// cloud-init's NoCloud retries a missing vendor-data until it gives up
		t.Files["http/vendor-data"] = []byte{}
	}
	hcl, err := writeTemplate(p, t, opts)
	if err != nil {
		return nil, err
	}
	t.Files[TemplateFile] = hcl
	return t, nil
}

// Write puts every template directory into out, each replaced whole (a failed write
// leaves the previous one intact). The build key and other files in out are kept.
func Write(res *Result, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, t := range res.Templates {
		stage, err := os.MkdirTemp(out, "."+t.Name+".stage-")
		if err != nil {
			return err
		}
		names := make([]string, 0, len(t.Files))
		for name := range t.Files {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			dst := filepath.Join(stage, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				os.RemoveAll(stage)
				return err
			}
			mode := os.FileMode(0o644)
			if strings.HasSuffix(name, ".sh") {
				mode = 0o755
			}
			if err := atomicfile.WriteFile(dst, t.Files[name], mode); err != nil {
				os.RemoveAll(stage)
				return err
			}
		}
		if err := os.Chmod(stage, 0o755); err != nil {
			os.RemoveAll(stage)
			return err
		}
		if err := atomicfile.ReplaceDir(stage, filepath.Join(out, t.Name)); err != nil {
			os.RemoveAll(stage)
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LoadChecksums reads the plan's mirror.checksums (relative to the plan's directory, or
// absolute) into path → sha256; nil when the plan names none.
func LoadChecksums(p *plan.Plan) (map[string]string, error) {
	name := p.Mirror.ChecksumsFile
	if name == "" {
		return nil, nil
	}
	var data []byte
	var err error
	if filepath.IsAbs(name) {
		data, err = os.ReadFile(name)
	} else {
		dir := "."
		if p.File != "" {
			dir = filepath.Dir(p.File)
		}
		var root *os.Root
		if root, err = os.OpenRoot(dir); err == nil {
			data, err = root.ReadFile(name)
			root.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: mirror.checksums %s: %v (run `kisgen mirror build`)", ErrUnpinned, name, err)
	}
	sums, err := plan.ParseChecksums(data)
	if err != nil {
		return nil, fmt.Errorf("mirror.checksums %s: %w", name, err)
	}
	return sums, nil
}
