package pxe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/kisgen/kisgen/internal/filehash"

	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Defaults for Options.
const (
	DefaultRoot       = "/dev/sda"
	DefaultKernelArgs = "console=tty0 console=ttyS0,115200n8"
	DefaultIPXEDir    = "/usr/lib/ipxe"
	// ManifestFile describes a bundle; Serve reads it.
	ManifestFile = "manifest.json"
	// OutputKind is what a bundle's output marker names it.
	OutputKind = "pxe-bundle"
)

// Options configure Build.
type Options struct {
	// Out is the bundle directory. It is replaced as a whole: a failed build (or a crash,
	// repaired by the next build) leaves the previous bundle in place. It must be new,
	// empty, or a bundle kisgen wrote for the same cluster (see internal/outdir).
	Out string
	// Protect lists what Out must never be, contain or lie inside (the state directory,
	// the plan, its SSH key, the user-data read).
	Protect []outdir.Protected
	// Images are the image directories of the plan's operating systems, by os: what
	// `kisgen image build --os OS` writes (vmlinuz, initrd.img, rootfs.qcow2). Each node
	// boots its group's os's kernel and initrd and, unless NoInstall, installs that os's
	// root file system to its disk.
	Images map[string]string
	// Kernel and Initrd, when given, are the kernel and initrd of the plan's one
	// operating system, in place of its image's (a plan of several needs Images).
	Kernel, Initrd string
	// Root is the nodes' disk (default /dev/sda): the installer writes the image there,
	// or, with NoInstall, the disk root= names, which must hold the image already; "" with
	// KernelArgs carrying root= yourself (NoInstall only).
	Root string
	// NoInstall leaves the disks as they are: every boot comes over the network with
	// root=Root, as for machines imaged another way. Otherwise a node's first boot
	// installs its image to Root and reboots, and later boots come from the disk.
	NoInstall bool
	// GrubDir holds GRUB's BIOS boot sector and modules (default DefaultGrubDir), which
	// make the installed disks bootable.
	GrubDir string
	// KernelArgs are added to every node's kernel command line (default: serial and
	// screen consoles).
	KernelArgs string
	// IPXEDir holds undionly.kpxe and ipxe.efi, the iPXE builds PXE firmware chainloads
	// (Debian's ipxe package; default /usr/lib/ipxe). Missing files are reported; machines
	// whose firmware is iPXE already (qemu, many NICs) do not need them.
	IPXEDir string
	// Mirror is a directory `kisgen mirror build` wrote; it is linked (or copied) into the
	// bundle's mirror/ for installs without internet access.
	Mirror string
	// Progress receives a line per notable event.
	Progress io.Writer
}

// Manifest describes a bundle: its nodes and a checksum of every file.
type Manifest struct {
	Cluster string         `json:"cluster"`
	HTTPURL string         `json:"httpUrl"`
	Nodes   []ManifestNode `json:"nodes"`
	// Files maps every file's path in the bundle to its SHA-256.
	Files map[string]string `json:"files"`
}

// ManifestNode is one node of a bundle and the paths only it may fetch.
type ManifestNode struct {
	Host   string   `json:"host"`
	MAC    string   `json:"mac"`
	IP     string   `json:"ip"`
	Roles  []string `json:"roles"`
	Format string   `json:"format"`
	OS     string   `json:"os"`
	// Install says that the node's first boot installs its image to its disk: ipxe/MAC.ipxe
	// then boots the disk and, when it has nothing to boot, InstallScript.
	Install       bool   `json:"install,omitempty"`
	InstallScript string `json:"installScript,omitempty"`
	// Private are the paths holding the node's user-data.
	Private []string `json:"private"`
}

// Result is a built bundle.
type Result struct {
	Dir      string
	Manifest Manifest
	// Missing lists optional files that could not be included, with what to do.
	Missing []string
}

var (
	macRE  = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)
	hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// HexHyp is a MAC address as iPXE's ${mac:hexhyp} writes it: 52-54-00-12-34-56.
func HexHyp(mac string) string { return strings.ReplaceAll(strings.ToLower(mac), ":", "-") }

// NoCloudURL is the seed URL a cloud-init node is booted with.
func NoCloudURL(httpURL, host string) string { return httpURL + "/nocloud/" + host + "/" }

// IgnitionURL is the config URL an Ignition node is booted with.
func IgnitionURL(httpURL, host string) string { return httpURL + "/ignition/" + host + ".ign" }

// InstanceID is a node's cloud-init instance id: in its NoCloud meta-data and, on an
// installed disk, on its kernel command line (which lets cloud-init use what it cached at
// later boots without asking the server).
func InstanceID(cluster, host string) string { return "kisgen-" + cluster + "-" + host }

// kernelArgs is a node's kernel command line after the initrd= argument: root= (with
// NoInstall), the bundle's arguments, and where the node's user-data is.
func kernelArgs(httpURL string, m providers.Machine, opts Options) string {
	var args []string
	if opts.Root != "" {
		args = append(args, "root="+opts.Root, "rw")
	}
	return strings.Join(append(args, nodeArgs(httpURL, "", m, opts)...), " ")
}

// nodeArgs are the bundle's kernel arguments and the node's user-data source; instance,
// when given, pins cloud-init's instance id.
func nodeArgs(httpURL, instance string, m providers.Machine, opts Options) []string {
	var args []string
	if opts.KernelArgs != "" {
		args = append(args, strings.Fields(opts.KernelArgs)...)
	}
	if m.Format == plan.FormatIgnition {
		// Fedora CoreOS and Flatcar read the config URL; flatcar.first_boot makes Flatcar
		// run Ignition on a machine booted over the network.
		args = append(args, "ignition.firstboot", "ignition.platform.id=metal", "flatcar.first_boot=1", "ignition.config.url="+IgnitionURL(httpURL, m.Node.Host))
	} else {
		ds := "ds=nocloud-net;s=" + NoCloudURL(httpURL, m.Node.Host)
		if instance != "" {
			ds += ";i=" + instance
		}
		args = append(args, ds)
	}
	return args
}

// checkArgs refuses kernel arguments an iPXE script line would misread.
func checkArgs(s string) error {
	if strings.ContainsAny(s, "\n\r$\"'`\\") {
		return fmt.Errorf("kernel arguments %q: newlines, quotes, backslashes and $ are not allowed", s)
	}
	return nil
}

// Build writes the bundle for the plan's machines. Everything is checked first; the
// bundle is staged next to Out and swapped in at the end.
func Build(p *plan.Plan, machines []providers.Machine, opts Options) (*Result, error) {
	if opts.Out == "" {
		return nil, errors.New("no output directory")
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return nil, err
	}
	httpURL := strings.TrimRight(p.Provider.PXE.HTTPURL, "/")
	var errs []error
	if u, err := url.Parse(httpURL); httpURL == "" || err != nil || u.Scheme != "http" || u.Host == "" || strings.ContainsAny(httpURL, " \"'$\\") {
		errs = append(errs, fmt.Errorf("%w: provider.pxe.http_url: set the http:// URL `kisgen serve pxe` will be reachable at from the nodes, e.g. http://10.0.0.2:8080", providers.ErrSetting))
	}
	if err := checkArgs(opts.KernelArgs + " " + opts.Root); err != nil {
		errs = append(errs, err)
	}
	if !opts.NoInstall && !strings.HasPrefix(opts.Root, "/dev/") {
		errs = append(errs, fmt.Errorf("%w: the disk to install to is %q: name the machines' disk, e.g. /dev/sda (`kisgen bundle pxe --root`)", providers.ErrSetting, opts.Root))
	}
	assets, aerrs := resolveAssets(machines, opts)
	errs = append(errs, aerrs...)
	if opts.Mirror != "" {
		if fi, err := os.Stat(opts.Mirror); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("%w: the mirror %q: build it with `kisgen mirror build --out %s`", ErrMissingAsset, opts.Mirror, opts.Mirror))
		}
	}
	seen := map[string]string{}
	for _, m := range machines {
		n := m.Node
		switch {
		case n.MAC == "":
			errs = append(errs, fmt.Errorf("%w: %s.mac: add the MAC address of %s's boot interface", ErrNoMAC, n.Sources[0], n.Host))
		case !macRE.MatchString(n.MAC):
			errs = append(errs, fmt.Errorf("%w: %s.mac: %q is not a MAC address", providers.ErrSetting, n.Sources[0], n.MAC))
		case seen[n.MAC] != "":
			errs = append(errs, fmt.Errorf("%w: %s.mac: %s is also %s's", providers.ErrSetting, n.Sources[0], n.MAC, seen[n.MAC]))
		default:
			seen[n.MAC] = n.Host
		}
		if !hostRE.MatchString(n.Host) {
			errs = append(errs, fmt.Errorf("%w: %s.host: %q cannot name a file in the bundle", providers.ErrSetting, n.Sources[0], n.Host))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	grubDir := opts.GrubDir
	if grubDir == "" {
		grubDir = DefaultGrubDir
	}
	// The slow parts, before the bundle is staged: each os's root file system (made once
	// per image, then reused) and each installing node's boot header.
	ctx := context.Background()
	var notes []string
	for _, a := range sortedAssets(assets) {
		if a.rootfs == "" {
			if !opts.NoInstall {
				notes = append(notes, fmt.Sprintf("assets/%s: no root file system to install (an image of `kisgen image build` has one): its nodes boot from the network at every boot, with root=%s", a.os, opts.Root))
			}
			continue
		}
		if a.archive, err = rootFSArchive(ctx, a.rootfs); err != nil {
			return nil, err
		}
	}
	headers := map[string][]byte{}
	for _, m := range machines {
		a := assets[m.Node.Group.OS]
		if a.archive == "" {
			continue
		}
		sig := diskSignature(p.Name, m.Node.Host)
		core, err := grubCore(ctx, grubDir, grubConfig(sig, nodeArgs(httpURL, InstanceID(p.Name, m.Node.Host), m, opts)))
		if err != nil {
			return nil, err
		}
		h, err := bootHeader(grubDir, core, sig, partitionSectors(m.Node.Group.Machine.DiskGB))
		if err != nil {
			return nil, err
		}
		var cpio bytes.Buffer
		if err := writeCPIO(&cpio, []cpioFile{{Name: "kisgen", Dir: true, Mode: 0o755}, {Name: "kisgen/boot.img.gz", Mode: 0o644, Data: gzipBytes(h)}}); err != nil {
			return nil, err
		}
		headers[m.Node.Host] = cpio.Bytes()
	}

	st, err := outdir.Begin(out, outdir.Options{
		Marker: outdir.Marker{Kind: OutputKind, Cluster: p.Name}, Legacy: ManifestFile, Protect: opts.Protect, Mode: 0o755,
	})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			st.Abort()
		}
	}()
	for _, n := range st.Notes {
		fmt.Fprintf(progressOf(opts), "pxe: %s\n", n)
	}
	stage := st.Dir
	b := &builder{dir: stage, files: map[string]string{}}
	res := &Result{Dir: out, Manifest: Manifest{Cluster: p.Name, HTTPURL: httpURL}}

	nodes := make([]ManifestNode, 0, len(machines))
	for _, m := range machines {
		n := m.Node
		roles := make([]string, len(n.Roles))
		for i, r := range n.Roles {
			roles[i] = string(r)
		}
		mn := ManifestNode{Host: n.Host, MAC: n.MAC, IP: n.IP.String(), Roles: roles, Format: string(m.Format), OS: n.Group.OS}
		if m.Format == plan.FormatIgnition {
			mn.Private = []string{"ignition/" + n.Host + ".ign"}
			b.write(mn.Private[0], m.UserData, 0o600)
		} else {
			dir := "nocloud/" + n.Host + "/"
			mn.Private = []string{dir + "user-data"}
			b.write(dir+"user-data", m.UserData, 0o600)
			b.write(dir+"meta-data", []byte(fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", InstanceID(p.Name, n.Host), n.Host)), 0o644)
			b.write(dir+"vendor-data", nil, 0o644) // cloud-init 22.4 retries and gives up on a 404
		}
		data := map[string]string{
			"Cluster": p.Name, "Host": n.Host, "Roles": strings.Join(roles, ", "), "MAC": n.MAC, "IP": n.IP.String(),
			"HTTPURL": httpURL, "OS": n.Group.OS, "KernelArgs": kernelArgs(httpURL, m, opts), "Disk": opts.Root,
		}
		script := b.exec(nodeScript, data)
		if h, ok := headers[n.Host]; ok {
			mn.Install, mn.InstallScript = true, "ipxe/install/"+n.Host+".ipxe"
			data["InstallScript"] = mn.InstallScript
			data["KernelArgs"] = opts.KernelArgs // the installer runs no cloud-init: no user-data source
			b.write(mn.InstallScript, b.exec(installScript, data), 0o644)
			b.write("assets/boot/"+n.Host+".cpio", h, 0o644)
			script = b.exec(diskScript, data)
		}
		b.write("ipxe/"+HexHyp(n.MAC)+".ipxe", script, 0o644)
		b.write("ipxe/host/"+n.Host+".ipxe", script, 0o644)
		nodes = append(nodes, mn)
	}
	res.Manifest.Nodes = nodes
	boot := b.exec(bootScript, map[string]string{"Cluster": p.Name, "HTTPURL": httpURL})
	b.write("ipxe/boot.ipxe", boot, 0o644)
	b.write("tftp/boot.ipxe", boot, 0o644)

	installs := false
	for _, a := range sortedAssets(assets) {
		b.link(a.kernel, "assets/"+a.os+"/vmlinuz")
		b.link(a.initrd, "assets/"+a.os+"/initrd.img")
		if a.archive != "" {
			b.link(a.archive, "assets/"+a.os+"/rootfs.cpio")
			installs = true
		}
	}
	if installs {
		var cpio bytes.Buffer
		if err := writeCPIO(&cpio, []cpioFile{{Name: "scripts", Dir: true, Mode: 0o755}, {Name: "scripts/kisgen", Mode: 0o644, Data: installerScript}}); err != nil {
			return nil, err
		}
		b.write("assets/install.cpio", cpio.Bytes(), 0o644)
	}
	res.Missing = append(res.Missing, notes...)
	ipxeDir := opts.IPXEDir
	if ipxeDir == "" {
		ipxeDir = DefaultIPXEDir
	}
	for _, f := range []string{"undionly.kpxe", "ipxe.efi"} {
		src := filepath.Join(ipxeDir, f)
		if _, err := os.Stat(src); err != nil {
			res.Missing = append(res.Missing, fmt.Sprintf("tftp/%s: not in %s (install Debian's ipxe package, or copy one there); firmware that is iPXE already does not need it", f, ipxeDir))
			continue
		}
		b.link(src, "tftp/"+f)
	}
	if opts.Mirror != "" {
		b.linkTree(opts.Mirror, "mirror")
		if mu := strings.TrimRight(p.Mirror.URL, "/"); mu != httpURL+"/mirror" {
			res.Missing = append(res.Missing, fmt.Sprintf("mirror/: the plan's mirror.url is %q; set it to %s/mirror (and render again) for the nodes to download from the bundle", p.Mirror.URL, httpURL))
		}
	}

	ranges, err := dhcpRanges(machines)
	if err != nil {
		return nil, err
	}
	conf := map[string]any{
		"Cluster": p.Name, "Dir": out, "HTTPURL": httpURL, "Interface": p.Provider.PXE.Interface,
		"Ranges": ranges, "Nodes": nodes, "Gateway": p.Provider.PXE.Gateway, "DNS": strings.Join(p.Provider.PXE.DNS, ","),
	}
	b.write("dnsmasq/dnsmasq.conf", b.exec(dnsmasqConf, conf), 0o644)
	b.write("dnsmasq/dnsmasq-proxy.conf", b.exec(dnsmasqProxyConf, conf), 0o644)
	if b.err != nil {
		return nil, b.err
	}
	res.Manifest.Files = b.files
	mj, err := json.MarshalIndent(res.Manifest, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, ManifestFile), append(mj, '\n'), 0o644); err != nil {
		return nil, err
	}
	ok = true // Commit cleans up after itself
	if err := st.Commit(); err != nil {
		return nil, err
	}
	for _, m := range res.Missing {
		fmt.Fprintf(progressOf(opts), "pxe: note: %s\n", m)
	}
	return res, nil
}

func progressOf(opts Options) io.Writer {
	if opts.Progress == nil {
		return io.Discard
	}
	return opts.Progress
}

// dhcpRanges are the /24 networks of the nodes' addresses (dnsmasq takes the netmask
// from the interface it serves), sorted.
func dhcpRanges(machines []providers.Machine) ([]string, error) {
	set := map[string]bool{}
	for _, m := range machines {
		ip := m.Node.IP
		if !ip.Is4() {
			return nil, fmt.Errorf("%w: node %s: PXE reservations need an IPv4 address, got %s", providers.ErrSetting, m.Node.Host, ip)
		}
		pfx, _ := ip.Prefix(24)
		set[pfx.Addr().String()] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return netip.MustParseAddr(out[i]).Less(netip.MustParseAddr(out[j]))
	})
	return out, nil
}

// builder writes files into the staged bundle, remembering their checksums; the first
// error sticks.
type builder struct {
	dir   string
	files map[string]string
	err   error
}

func (b *builder) exec(t *template.Template, data any) []byte {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil && b.err == nil {
		b.err = err
	}
	return buf.Bytes()
}

func (b *builder) prepare(rel string) string {
	dst := filepath.Join(b.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil && b.err == nil {
		b.err = err
	}
	return dst
}

func (b *builder) write(rel string, data []byte, perm os.FileMode) {
	if b.err != nil {
		return
	}
	dst := b.prepare(rel)
	if err := os.WriteFile(dst, data, perm); err != nil {
		b.err = err
		return
	}
	if err := os.Chmod(dst, perm); err != nil {
		b.err = err
		return
	}
	sum := sha256.Sum256(data)
	b.files[rel] = hex.EncodeToString(sum[:])
}

// link hard-links src into the bundle, or copies it when that is not possible.
func (b *builder) link(src, rel string) {
	if b.err != nil {
		return
	}
	dst := b.prepare(rel)
	if err := os.Link(src, dst); err != nil {
		if err := copyFile(src, dst); err != nil {
			b.err = fmt.Errorf("bundle %s: %w", src, err)
			return
		}
	}
	sum, _, err := filehash.SHA256(dst)
	if err != nil {
		b.err = err
		return
	}
	b.files[rel] = sum
}

func (b *builder) linkTree(src, rel string) {
	if b.err != nil {
		return
	}
	b.err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		r, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		b.link(p, rel+"/"+filepath.ToSlash(r))
		return b.err
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
