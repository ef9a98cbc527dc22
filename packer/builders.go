package packer

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/plan"
)

// Debian's official AMIs: owner account and name pattern per release.
const debianAMIOwner = "136693071363"

var debianAMIName = map[string]string{"debian-12": "debian-12-amd64-*", "debian-13": "debian-13-amd64-*"}

// Canonical's official Ubuntu AMIs: owner account and name pattern per release.
const ubuntuAMIOwner = "099720109477"

var ubuntuAMIName = map[string]string{
	"ubuntu-22.04": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
	"ubuntu-24.04": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
}

// amiSource is the source AMI filter and login user of osName's official images.
func amiSource(osName string) (owner, name, user string) {
	if n, ok := ubuntuAMIName[osName]; ok {
		return ubuntuAMIOwner, n, "ubuntu"
	}
	return debianAMIOwner, debianAMIName[osName], "admin"
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bakeExecute runs the bake script as root with the provisioner's variables.
const bakeExecute = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"

// writeTemplate builds the HCL2 file of t.
func writeTemplate(p *plan.Plan, t *Template, opts Options) ([]byte, error) {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	src := p.File
	if src == "" {
		src = "(plan given as bytes)"
	} else {
		src = filepath.Base(src)
	}
	comment(b,
		fmt.Sprintf("Packer template written by `kisgen packer` from plan %s (%s): a %s image of %s for kisgen nodes.", p.Name, src, t.Builder, t.OS),
		"Do not edit: run `kisgen packer` again after changing the plan.",
		"",
		"It runs kisgen's bake script (bake.sh, the same as `kisgen image build`) with the plan's binaries and",
		"image archives, each checked against its sha256, so nodes booted from the image download nothing:",
		"the image manifest /etc/kisgen/image-manifest.json lists them and the node's bootstrap uses them.")
	for _, bin := range t.Binaries {
		comment(b, fmt.Sprintf("  %s %s: %s", bin.Name, bin.Version, strings.Join(bin.Executables(), ", ")))
	}
	for _, a := range t.Archives {
		comment(b, "  image archive "+a.Path)
	}
	for _, n := range t.Notes {
		comment(b, "  "+n)
	}
	comment(b, "", "Build: "+buildHint(p, t))
	b.AppendNewline()

	hasMirror := p.Mirror.URL != ""
	if hasMirror {
		variable(b, "mirror_url", "string", str(mirrorFor(p.Mirror.URL, t.Builder)),
			"base URL of the kisgen mirror the build machine downloads from (`kisgen mirror serve`); the plan's mirror.url"+qemuMirrorNote(t.Builder), false)
	}
	switch t.Builder {
	case BuilderQEMU:
		qemuVariables(b, t, opts.BaseImages)
	case BuilderAWS:
		awsVariables(b, p, t)
	case BuilderVSphere:
		vsphereVariables(b, p, t)
	}

	// locals: what the bake script installs, one word per binary and archive
	lb := b.AppendNewBlock("locals", nil).Body()
	var binToks, arcToks []tokens
	for _, bin := range t.Binaries {
		s, err := bin.spec()
		if err != nil {
			return nil, err
		}
		binToks = append(binToks, str(s))
	}
	for _, a := range t.Archives {
		s, err := a.spec()
		if err != nil {
			return nil, err
		}
		arcToks = append(arcToks, str(s))
	}
	lb.SetAttributeRaw("binaries", list(binToks))
	lb.SetAttributeRaw("image_archives", list(arcToks))
	switch t.Builder {
	case BuilderQEMU:
		rel, err := relImages(p, opts.Out, t.Name)
		if err != nil {
			return nil, err
		}
		base := tmpl(ref("path.root"), "/"+rel+"/"+t.OS)
		if opts.BaseImages != "" {
			base = str(filepath.Join(opts.BaseImages, t.OS))
		}
		lb.SetAttributeRaw("base_image", op(ref("var.base_image"), "!=", str(""), "?", ref("var.base_image"), ":", base))
		lb.SetAttributeRaw("output_directory", op(ref("var.output_directory"), "!=", str(""), "?", ref("var.output_directory"), ":",
			tmpl(ref("path.root"), "/"+rel+"/"+bakedName(t.OS))))
		lb.SetAttributeRaw("cpu_model", op(ref("var.accelerator"), "==", str("kvm"), "?", str("host"), ":", str("max")))
	case BuilderAWS:
		lb.SetAttributeRaw("timestamp", call("formatdate", str("YYYYMMDDhhmmss"), call("timestamp")))
	case BuilderVSphere:
		// GOVC_URL may be a URL with credentials and /sdk: vcenter_server wants the host
		lb.SetAttributeRaw("vcenter_server", call("regex_replace",
			call("regex_replace", ref("var.govc_url"), str("^[a-zA-Z]+://"), str("")), str("^[^@/]*@|/.*$"), str("")))
		lb.SetAttributeRaw("insecure", call("contains", strs("1", "true", "True", "TRUE"), ref("var.govc_insecure")))
	}
	b.AppendNewline()

	// A source name is an HCL identifier in "source.BUILDER.NAME": no dots (ubuntu-24.04).
	srcName := strings.ReplaceAll(t.OS, ".", "-")
	sb := b.AppendNewBlock("source", []string{t.Builder, srcName}).Body()
	switch t.Builder {
	case BuilderQEMU:
		qemuSource(sb, t)
	case BuilderAWS:
		awsSource(sb, p, t)
	case BuilderVSphere:
		vsphereSource(sb, p, t)
	}
	b.AppendNewline()

	bb := b.AppendNewBlock("build", nil).Body()
	bb.SetAttributeRaw("name", str("kisgen-"+p.Name+"-"+t.OS))
	bb.SetAttributeRaw("sources", strs("source."+t.Builder+"."+srcName))
	bb.AppendNewline()
	env := []tokens{str("KISGEN_OS=" + t.OS)}
	if t.Builder == BuilderQEMU {
		// kisgen's local images read NoCloud seeds (ISO, or HTTP from the kernel command
		// line for PXE); AWS and vSphere images keep their own datasource settings
		env = append(env, str("KISGEN_DATASOURCES=NoCloud, None"))
	}
	if hasMirror {
		env = append(env, tmpl("KISGEN_MIRROR_URL=", ref("var.mirror_url")))
	}
	env = append(env,
		tmpl("KISGEN_BINARIES=", call("join", str(" "), ref("local.binaries"))),
		tmpl("KISGEN_IMAGE_ARCHIVES=", call("join", str(" "), ref("local.image_archives"))),
		str("KISGEN_FILES="+imageFilesUpload))
	comment(bb, "kisgen's node files that read no plan (scripts, add-on bases), each named by its sha256")
	up := bb.AppendNewBlock("provisioner", []string{"file"}).Body()
	setAll(up,
		attr{"source", tmpl(ref("path.root"), "/"+ImageFilesTar)},
		attr{"destination", str(imageFilesUpload)})
	bb.AppendNewline()
	comment(bb, "the bake script, as root, with the pinned binaries and image archives and kisgen's files")
	pv := bb.AppendNewBlock("provisioner", []string{"shell"}).Body()
	setAll(pv,
		attr{"script", tmpl(ref("path.root"), "/bake.sh")},
		attr{"execute_command", str(bakeExecute)},
		attr{"environment_vars", list(env)})
	bb.AppendNewline()
	switch t.Builder {
	case BuilderQEMU:
		comment(bb, "the manifest beside the disk: `kisgen` reads it from the image directory")
		dl := bb.AppendNewBlock("provisioner", []string{"file"}).Body()
		setAll(dl,
			attr{"direction", str("download")},
			attr{"source", str(image.ManifestPath)},
			attr{"destination", tmpl(ref("local.output_directory"), "/"+image.ManifestFile)})
		bb.AppendNewline()
		comment(bb, "an image directory as `kisgen image build` makes: the base image's kernel and initrd, the baked",
			"disk, and a build id from the disk's content (provider.qemu.image: "+bakedName(t.OS)+")")
		pp := bb.AppendNewBlock("post-processor", []string{"shell-local"}).Body()
		setAll(pp,
			attr{"environment_vars", list([]tokens{tmpl("BASE=", ref("local.base_image")), tmpl("OUT=", ref("local.output_directory")), str("KISGEN_OS=" + t.OS)})},
			attr{"inline", strs(
				`cp -L "$BASE/`+image.KernelFile+`" "$OUT/`+image.KernelFile+`"`,
				`cp -L "$BASE/`+image.InitrdFile+`" "$OUT/`+image.InitrdFile+`"`,
				`echo "$KISGEN_OS-$(sha256sum "$OUT/`+image.RootFSFile+`" | cut -c1-16)" > "$OUT/`+image.BuildIDFile+`"`)})
	case BuilderAWS:
		comment(bb, "cloud-init forgets the build instance; the build key is removed from the image")
		cl := bb.AppendNewBlock("provisioner", []string{"shell"}).Body()
		setAll(cl, attr{"inline", strs(cleanupCommand("", false), "rm -f \"$HOME/.ssh/authorized_keys\"")})
	}
	out := hclwrite.Format(f.Bytes())
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out, nil
}

// mirrorFor is the mirror URL a build machine uses: the plan's, except that a qemu build
// VM has an open user network where 10.0.2.2 is this machine's loopback, while the
// plan's qemu nodes reach the loopback mirror through a forwarded 10.0.2.x address.
func mirrorFor(mirrorURL, builder string) string {
	u, err := url.Parse(mirrorURL)
	if err != nil || builder != BuilderQEMU || !strings.HasPrefix(u.Hostname(), "10.0.2.") || u.Port() == "" {
		return mirrorURL
	}
	u.Host = "10.0.2.2:" + u.Port()
	return u.String()
}

func qemuMirrorNote(builder string) string {
	if builder != BuilderQEMU {
		return ""
	}
	return "; in the build VM's user network 10.0.2.2 is this machine's loopback"
}

func buildHint(p *plan.Plan, t *Template) string {
	switch t.Builder {
	case BuilderQEMU:
		return "packer build -force [-var accelerator=tcg] " + t.Name + "/ then set provider.qemu.image: " + bakedName(t.OS)
	case BuilderAWS:
		return "packer build " + t.Name + "/ (AWS credentials from the environment), then set machine.image to the AMI it prints"
	default:
		return "GOVC_URL=… GOVC_USERNAME=… GOVC_PASSWORD=… packer build " + t.Name + "/, then set machine.image to " + vsphereImageName(p, t.OS)
	}
}

// bakedName is the qemu image name of a baked image (a directory under .cache/images).
func bakedName(osName string) string { return osName + "-baked" }

// relImages is the plan's image cache (.cache/images beside the plan, where the qemu
// provider looks first for images by name) relative to the template directory, with
// slashes.
func relImages(p *plan.Plan, out, name string) (string, error) {
	planDir := "."
	if p.File != "" {
		planDir = filepath.Dir(p.File)
	}
	from, err := filepath.Abs(filepath.Join(out, name))
	if err != nil {
		return "", err
	}
	to, err := filepath.Abs(filepath.Join(planDir, image.PlanCacheDir))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(from, to)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

func qemuVariables(b *hclwrite.Body, t *Template, baseImages string) {
	base := ".cache/images/" + t.OS + " beside the plan"
	if baseImages != "" {
		base = filepath.Join(baseImages, t.OS)
	}
	variable(b, "base_image", "string", str(""),
		"directory of the base image (`kisgen image build --os "+t.OS+"`: vmlinuz, initrd.img, rootfs.qcow2); empty: "+base, false)
	variable(b, "output_directory", "string", str(""),
		"directory of the baked image; empty: .cache/images/"+bakedName(t.OS)+" beside the plan, where provider.qemu.image: "+bakedName(t.OS)+" finds it", false)
	variable(b, "accelerator", "string", str("kvm"), "kvm where /dev/kvm works, else tcg (emulation, many times slower)", false)
	variable(b, "cpus", "number", num(2), "build VM processors", false)
	variable(b, "memory", "number", num(2048), "build VM memory in MiB", false)
	variable(b, "console_log", "string", str("/dev/null"), "file that receives the build VM's serial console", false)
}

func qemuSource(sb *hclwrite.Body, t *Template) {
	base := ref("local.base_image")
	setAll(sb,
		attr{"disk_image", boolean(true)},
		attr{"iso_url", tmpl(base, "/"+image.RootFSFile)},
		// a local build of `kisgen image build`, named by content (its build-id)
		attr{"iso_checksum", str("none")},
		attr{"use_backing_file", boolean(false)},
		attr{"skip_resize_disk", boolean(true)},
		attr{"format", str("qcow2")},
		attr{"vm_name", str(image.RootFSFile)},
		attr{"output_directory", ref("local.output_directory")},
		attr{"accelerator", ref("var.accelerator")},
		attr{"cpus", ref("var.cpus")},
		attr{"memory", ref("var.memory")},
		attr{"headless", boolean(true)},
		attr{"disk_interface", str("virtio")},
		// the cleanup's fstrim frees the blocks of the downloads, so the saved disk is smaller
		attr{"disk_discard", str("unmap")},
		attr{"net_device", str("virtio-net")},
		attr{"http_directory", tmpl(ref("path.root"), "/http")},
		attr{"qemuargs", list([]tokens{
			row(str("-kernel"), tmpl(base, "/"+image.KernelFile)),
			row(str("-initrd"), tmpl(base, "/"+image.InitrdFile)),
			// direct kernel boot of the whole-disk ext4 root; the seed comes from Packer's HTTP server
			row(str("-append"), str("root=/dev/vda rw console=ttyS0 ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/")),
			row(str("-cpu"), ref("local.cpu_model")),
			row(str("-serial"), tmpl("file:", ref("var.console_log"))),
		})},
		attr{"communicator", str("ssh")},
		attr{"ssh_username", str(BuildUser)},
		attr{"ssh_private_key_file", tmpl(ref("path.root"), "/../"+BuildKeyFile)},
		attr{"ssh_timeout", str("30m")},
		attr{"shutdown_command", str(cleanupCommand(BuildUser, true))},
		attr{"shutdown_timeout", str("10m")},
	)
}

func awsVariables(b *hclwrite.Body, p *plan.Plan, t *Template) {
	region := str(p.Provider.AWS.Region)
	if p.Provider.AWS.Region == "" {
		region = call("env", str("AWS_REGION"))
	}
	variable(b, "region", "string", region, "AWS region of the AMI (the plan's provider.aws.region)", false)
	variable(b, "subnet_id", "string", str(p.Provider.AWS.SubnetID), "subnet of the build instance; empty: the default VPC", false)
	variable(b, "instance_type", "string", str("t3.medium"), "build instance type", false)
	variable(b, "image_name", "string", str("kisgen-"+p.Name+"-"+t.OS), "AMI name prefix (a timestamp is appended)", false)
}

func awsSource(sb *hclwrite.Body, p *plan.Plan, t *Template) {
	owner, name, user := amiSource(t.OS)
	setAll(sb,
		attr{"region", ref("var.region")},
		attr{"instance_type", ref("var.instance_type")},
		attr{"subnet_id", ref("var.subnet_id")},
		attr{"ami_name", tmpl(ref("var.image_name"), "-", ref("local.timestamp"))},
		attr{"ami_description", str(fmt.Sprintf("kisgen node image of %s for plan %s: Kubernetes %s, etcd %s", t.OS, p.Name, p.Versions.Kubernetes, p.Versions.Etcd))},
		attr{"ssh_username", str(user)},
		attr{"tags", object(tagKeys(p, t), tagVals(p, t))},
	)
	filter := sb.AppendNewBlock("source_ami_filter", nil).Body()
	setAll(filter,
		attr{"filters", object([]string{"architecture", "name", "root-device-type", "virtualization-type"}, map[string]tokens{
			"architecture": str("x86_64"), "name": str(name), "root-device-type": str("ebs"), "virtualization-type": str("hvm")})},
		attr{"owners", strs(owner)},
		attr{"most_recent", boolean(true)})
	disk := sb.AppendNewBlock("launch_block_device_mappings", nil).Body()
	setAll(disk,
		attr{"device_name", str("/dev/xvda")},
		attr{"volume_size", num(max(20, diskGB(p, t.OS)))},
		attr{"volume_type", str("gp3")},
		// gp3's baseline, which Packer 1.6 wants spelled out
		attr{"iops", num(3000)},
		attr{"throughput", num(125)},
		attr{"delete_on_termination", boolean(true)})
}

func tagVals(p *plan.Plan, t *Template) map[string]tokens {
	return map[string]tokens{
		"Name":                 tmpl(ref("var.image_name"), "-", ref("local.timestamp")),
		"kisgen.io/cluster":    str(p.Name),
		"kisgen.io/os":         str(t.OS),
		"kisgen.io/etcd":       str(p.Versions.Etcd),
		"kisgen.io/kubernetes": str(p.Versions.Kubernetes),
	}
}

func tagKeys(p *plan.Plan, t *Template) []string {
	keys := make([]string, 0, 5)
	for k := range tagVals(p, t) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// diskGB is the largest disk the plan gives a group running osName.
func diskGB(p *plan.Plan, osName string) int {
	n := 0
	for _, g := range p.Groups {
		if g != nil && g.OS == osName {
			n = max(n, g.Machine.DiskGB)
		}
	}
	return n
}

// vsphereImageName is the template the vSphere build leaves.
func vsphereImageName(p *plan.Plan, osName string) string { return "kisgen-" + p.Name + "-" + osName }

func vsphereVariables(b *hclwrite.Body, p *plan.Plan, t *Template) {
	variable(b, "govc_url", "string", call("env", str("GOVC_URL")), "vCenter, as govc and kisgen's vSphere provider read it (GOVC_URL)", false)
	variable(b, "govc_username", "string", call("env", str("GOVC_USERNAME")), "vCenter user (GOVC_USERNAME)", false)
	variable(b, "govc_password", "string", call("env", str("GOVC_PASSWORD")), "vCenter password (GOVC_PASSWORD)", true)
	variable(b, "govc_insecure", "string", call("env", str("GOVC_INSECURE")), "1 to skip vCenter's certificate check (GOVC_INSECURE)", false)
	var clusterDef tokens
	if c := clusterOf(p.Provider.VSphere.ResourcePool); c != "" {
		clusterDef = str(c)
	}
	variable(b, "cluster", "string", clusterDef, "vSphere cluster the build VM runs in (from provider.vsphere.resource_pool when it names one)", false)
	variable(b, "source_template", "string", str(sourceTemplate(p, t.OS)), "template to clone: a "+t.OS+" VM with cloud-init and VMware Tools (machine.image of the plan's groups)", false)
	variable(b, "image_name", "string", str(vsphereImageName(p, t.OS)), "name of the template the build leaves (set it as machine.image)", false)
}

func vsphereSource(sb *hclwrite.Body, p *plan.Plan, t *Template) {
	v := p.Provider.VSphere
	setAll(sb,
		attr{"vcenter_server", ref("local.vcenter_server")},
		attr{"username", ref("var.govc_username")},
		attr{"password", ref("var.govc_password")},
		attr{"insecure_connection", ref("local.insecure")},
		attr{"cluster", ref("var.cluster")},
		attr{"template", ref("var.source_template")},
		attr{"vm_name", ref("var.image_name")},
	)
	for _, kv := range []struct{ k, v string }{{"datacenter", v.Datacenter}, {"folder", v.Folder}, {"resource_pool", v.ResourcePool}, {"datastore", v.Datastore}} {
		if kv.v != "" {
			sb.SetAttributeRaw(kv.k, str(kv.v))
		}
	}
	// file() resolves relative paths against the template's directory in Packer 1.6 and
	// against the working directory later: an absolute path reads the same file in both
	seed := func(file string) tokens {
		return call("base64encode", call("file", call("abspath", tmpl(ref("path.root"), "/http/"+file))))
	}
	setAll(sb,
		attr{"linked_clone", boolean(false)},
		attr{"convert_to_template", boolean(true)},
		attr{"notes", str(fmt.Sprintf("kisgen node image of %s for plan %s: Kubernetes %s, etcd %s", t.OS, p.Name, p.Versions.Kubernetes, p.Versions.Etcd))},
		// the build VM's seed for cloud-init's VMware datasource; clones get their own
		attr{"configuration_parameters", object([]string{"guestinfo.metadata", "guestinfo.metadata.encoding", "guestinfo.userdata", "guestinfo.userdata.encoding"},
			map[string]tokens{"guestinfo.metadata": seed("meta-data"), "guestinfo.metadata.encoding": str("base64"),
				"guestinfo.userdata": seed("user-data"), "guestinfo.userdata.encoding": str("base64")})},
		attr{"communicator", str("ssh")},
		attr{"ssh_username", str(BuildUser)},
		attr{"ssh_private_key_file", tmpl(ref("path.root"), "/../"+BuildKeyFile)},
		attr{"ssh_timeout", str("30m")},
		attr{"shutdown_command", str(cleanupCommand(BuildUser, true))},
	)
}

// clusterOf reads the cluster from a resource pool inventory path /DC/host/CLUSTER/Resources….
func clusterOf(pool string) string {
	parts := strings.Split(strings.Trim(pool, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "host" {
			return parts[i+1]
		}
	}
	return ""
}

// sourceTemplate is the first machine.image among the groups running osName, in role order.
func sourceTemplate(p *plan.Plan, osName string) string {
	for _, r := range plan.Roles {
		if g := p.Groups[r]; g != nil && g.OS == osName && g.Machine.Image != "" {
			return g.Machine.Image
		}
	}
	return ""
}
