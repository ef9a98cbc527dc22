package pxe

import "text/template"

// The bundle's text files. Values are checked before they reach a template: MAC
// addresses, host names and URLs contain nothing a script or config file would read
// as syntax.
var (
	bootScript = template.Must(template.New("boot.ipxe").Option("missingkey=error").Parse(`#!ipxe
# kisgen: network boot of cluster {{.Cluster}}. Each node's script is chosen by its
# MAC address; a machine the plan does not list falls through to its next boot device.
chain {{.HTTPURL}}/ipxe/${mac:hexhyp}.ipxe || goto unknown
:unknown
echo kisgen: no node of cluster {{.Cluster}} has MAC ${mac} (add it to the plan and build the bundle again)
sleep 10
exit
`))

	nodeScript = template.Must(template.New("node.ipxe").Option("missingkey=error").Parse(`#!ipxe
# kisgen: node {{.Host}} ({{.Roles}}) of cluster {{.Cluster}}, MAC {{.MAC}}, address {{.IP}}
echo kisgen: booting {{.Host}}
kernel {{.HTTPURL}}/assets/{{.OS}}/vmlinuz initrd=initrd.img {{.KernelArgs}}
initrd {{.HTTPURL}}/assets/{{.OS}}/initrd.img
boot
`))

	// diskScript is what a node whose image is installed boots by: its disk first (GRUB,
	// which kisgen's install wrote); a disk with nothing to boot (blank, or the install
	// did not finish) gets the install. BIOS firmware: the installed disks have no EFI
	// system partition.
	diskScript = template.Must(template.New("disk.ipxe").Option("missingkey=error").Parse(`#!ipxe
# kisgen: node {{.Host}} ({{.Roles}}) of cluster {{.Cluster}}, MAC {{.MAC}}, address {{.IP}}
# Boots from its disk, where kisgen installed {{.OS}}; a disk with nothing to boot gets the install.
echo kisgen: {{.Host}} boots from its disk
sanboot --no-describe --drive 0x80 || goto install
:install
echo kisgen: {{.Host}}'s disk does not boot: installing
chain {{.HTTPURL}}/{{.InstallScript}}
`))

	// installScript boots the node into kisgen's installer (boot=kisgen, in the initrd
	// install.cpio), which writes the node's boot header (boot/HOST.cpio: partition table,
	// GRUB) and its os's root file system (rootfs.cpio) to the disk, then reboots. iPXE
	// hands the kernel every initrd; the kernel unpacks them one after another.
	installScript = template.Must(template.New("install.ipxe").Option("missingkey=error").Parse(`#!ipxe
# kisgen: install node {{.Host}} ({{.Roles}}) of cluster {{.Cluster}} to its disk {{.Disk}}:
# {{.OS}}'s root file system and GRUB, then a reboot; the next boots come from the disk.
echo kisgen: installing {{.Host}} to {{.Disk}}
kernel {{.HTTPURL}}/assets/{{.OS}}/vmlinuz initrd=initrd.img initrd=install.cpio initrd={{.Host}}.cpio initrd=rootfs.cpio boot=kisgen kisgen.disk={{.Disk}} {{.KernelArgs}}
initrd {{.HTTPURL}}/assets/{{.OS}}/initrd.img
initrd {{.HTTPURL}}/assets/install.cpio
initrd {{.HTTPURL}}/assets/boot/{{.Host}}.cpio
initrd {{.HTTPURL}}/assets/{{.OS}}/rootfs.cpio
boot
`))

	dnsmasqConf = template.Must(template.New("dnsmasq.conf").Option("missingkey=error").Parse(`# kisgen: DHCP reservations and TFTP for the network boot of cluster {{.Cluster}}.
# Only the plan's machines get an address: each MAC address gets its node's ip.
# Run it on the provisioning network's server, e.g.:
#   dnsmasq --no-daemon --conf-file={{.Dir}}/dnsmasq/dnsmasq.conf
# For a network whose DHCP server stays in place, use dnsmasq-proxy.conf instead.
port=0
{{- if .Interface}}
interface={{.Interface}}
bind-interfaces
{{- end}}
log-dhcp
{{range .Ranges}}dhcp-range={{.}},static
{{end -}}
{{range .Nodes}}dhcp-host={{.MAC}},{{.IP}},{{.Host}},infinite
{{end -}}
{{- if .Gateway}}
dhcp-option=option:router,{{.Gateway}}
{{- end}}
{{- if .DNS}}
dhcp-option=option:dns-server,{{.DNS}}
{{- end}}

# PXE firmware gets iPXE over TFTP first (BIOS: undionly.kpxe, UEFI: ipxe.efi);
# iPXE identifies itself (option 175) and gets the boot script over HTTP. Other
# DHCP clients (the installed system) get only their address.
enable-tftp
tftp-root={{.Dir}}/tftp
dhcp-vendorclass=set:pxe,PXEClient
dhcp-match=set:ipxe,175
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-boot=tag:pxe,tag:!ipxe,tag:efi64,ipxe.efi
dhcp-boot=tag:pxe,tag:!ipxe,tag:!efi64,undionly.kpxe
dhcp-boot=tag:ipxe,{{.HTTPURL}}/ipxe/boot.ipxe
`))

	dnsmasqProxyConf = template.Must(template.New("dnsmasq-proxy.conf").Option("missingkey=error").Parse(`# kisgen: proxy-DHCP and TFTP for the network boot of cluster {{.Cluster}}, on a network
# whose own DHCP server keeps handing out addresses: reserve each node's address for its
# MAC there. This dnsmasq only adds the boot instructions. Run it e.g.:
#   dnsmasq --no-daemon --conf-file={{.Dir}}/dnsmasq/dnsmasq-proxy.conf
port=0
{{- if .Interface}}
interface={{.Interface}}
bind-interfaces
{{- end}}
log-dhcp
{{range .Ranges}}dhcp-range={{.}},proxy
{{end -}}
enable-tftp
tftp-root={{.Dir}}/tftp
dhcp-userclass=set:ipxe,iPXE
pxe-service=tag:!ipxe,x86PC,"kisgen: chainload iPXE",undionly.kpxe
pxe-service=tag:!ipxe,X86-64_EFI,"kisgen: chainload iPXE",ipxe.efi
pxe-service=tag:ipxe,x86PC,"kisgen",{{.HTTPURL}}/ipxe/boot.ipxe
pxe-service=tag:ipxe,X86-64_EFI,"kisgen",{{.HTTPURL}}/ipxe/boot.ipxe
`))
)
