//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/packer"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/qemu"
	"github.com/kisgen/kisgen/roles"
)

// bakeWait bounds `packer build` of the qemu template (about 6 minutes under TCG here).
var bakeWait = envDuration("KISGEN_E2E_BAKE_WAIT", 40*time.Minute)

// TestBakedImageInstallsOffline is the proof of baked images (docs/packer.md): `kisgen
// packer` writes the qemu template, Packer builds it — the bake script installs the
// plan's binaries and image archive from the loopback mirror, checked against
// mirror.checksums — and a cluster booted from the baked image, with the mirror stopped
// and no forward to it (restricted user network, no guestfwd) and downloads disabled in
// the plan, passes `kisgen verify` with every node's status saying installPath "baked",
// and kisgen's scripts taken from the image's store (roles.ImageFilesDir), named by sum
// in the user-data instead of carried by it.
//
// It runs with `make e2e-baked` (KISGEN_E2E_BAKED=1) and needs packer on PATH.
func TestBakedImageInstallsOffline(t *testing.T) {
	if os.Getenv("KISGEN_E2E_BAKED") != "1" {
		t.Skip("SKIPPED: the baked-image e2e runs with `make e2e-baked` (KISGEN_E2E_BAKED=1)")
	}
	packerBin, err := exec.LookPath("packer")
	if err != nil {
		t.Skip("SKIPPED: packer is not installed (apt-get install packer): the baked-image e2e cannot run")
	}
	ph := &phases{t: t}
	tAll := time.Now()
	root := repoRoot()
	work := filepath.Join(root, ".cache", "e2e", "baked")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	bakeDir := filepath.Join(work, "bake")    // the plan the image is baked from, and its mirror
	bootDir := filepath.Join(work, "cluster") // the plan the baked image boots, without a mirror
	for _, d := range []string{filepath.Join(work, "logs"), bakeDir, bootDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(work, "logs", "kisgen.log")
	bakePlan := filepath.Join(bakeDir, "kismatic-cluster.yaml")
	mirrorDir := filepath.Join(bakeDir, "mirror")
	baseImage := filepath.Join(userCache(t), cachedir.ImagesDir, "debian-12")
	bakedImage := filepath.Join(work, "images", "debian-12-baked")
	t.Logf("work directory (kept for inspection): %s", work)

	t0 := time.Now()
	kisgen(t)
	ph.add("build kisgen", time.Since(t0))

	// The plan the image is baked from: the e2e plan with its mirror and pause archive.
	signer := writeKey(t, bakeDir)
	mirrorPort := freePort(t)
	writePlan(t, "minimal", bakePlan, mirrorPort, 2600, baseImage)
	p, rep, err := plan.Load(bakePlan)
	if err != nil || p == nil {
		t.Fatalf("plan %s: %v %v", bakePlan, err, rep)
	}

	t0 = time.Now()
	run(t, bakeDir, logFile, commandWait, "image", "build", "--os", "debian-12", "--cache", userCache(t), "--out", baseImage)
	ph.add("image build (base)", time.Since(t0))
	t0 = time.Now()
	run(t, bakeDir, logFile, commandWait, "mirror", "build", "-f", bakePlan, "--out", mirrorDir, "--cache", userCache(t), "--pause-image")
	ph.add("mirror build", time.Since(t0))

	t0 = time.Now()
	run(t, bakeDir, logFile, commandWait, "packer", "-f", bakePlan, "--out", filepath.Join(bakeDir, "packer"), "--builder", "qemu")
	tmplDir := filepath.Join(bakeDir, "packer", "qemu-debian-12")
	ph.add("kisgen packer", time.Since(t0))

	accel := os.Getenv("KISGEN_E2E_ACCEL")
	if accel == "" || accel == "auto" {
		a, err := qemu.ChooseAccel(context.Background(), "qemu-system-x86_64", "auto", filepath.Join(baseImage, image.KernelFile))
		if err != nil {
			t.Fatal(err)
		}
		accel = a.Name
		t.Logf("packer build with %s: %s", a.Name, a.Reason)
	}
	stopMirror := serveMirror(t, work, mirrorDir, mirrorPort)
	defer stopMirror()
	t0 = time.Now()
	runPacker(t, packerBin, tmplDir, filepath.Join(work, "logs", "packer.log"), "validate", "-var", "base_image="+baseImage)
	runPacker(t, packerBin, tmplDir, filepath.Join(work, "logs", "packer.log"), "build", "-force",
		"-var", "accelerator="+accel, "-var", "cpus=1", "-var", "memory=1536",
		"-var", "base_image="+baseImage, "-var", "output_directory="+bakedImage,
		"-var", "console_log="+filepath.Join(work, "logs", "packer-vm.console.log"))
	ph.add("packer build (bake)", time.Since(t0))
	// Cut the mirror off: it stops, and the cluster's plan names none.
	stopMirror()

	img, err := image.Find(bakedImage)
	if err != nil {
		t.Fatalf("baked image: %v", err)
	}
	man, err := roles.ParseImageManifest(img.Manifest)
	if err != nil {
		t.Fatalf("baked image manifest: %v\n%s", err, img.Manifest)
	}
	baked := map[string]roles.ImageComponent{}
	for _, c := range man.Components {
		baked[c.Name] = c
	}
	for _, exe := range []string{"etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
		want := p.Versions.Kubernetes
		if strings.HasPrefix(exe, "etcd") {
			want = p.Versions.Etcd
		}
		if c, ok := baked[exe]; !ok || c.Version != want || len(c.SHA256) != 64 {
			t.Errorf("image manifest: %s = %+v, want version %s with a sha256", exe, c, want)
		}
	}
	if _, ok := baked["image-archive:"+p.Mirror.ImageArchives[0]]; !ok {
		t.Errorf("image manifest lists no image-archive:%s", p.Mirror.ImageArchives[0])
	}
	if st, err := os.Stat(img.RootFS); err == nil {
		t.Logf("baked image %s: %s, rootfs.qcow2 %d MiB", img.Dir, img.BuildID, st.Size()>>20)
	}

	// The cluster's plan: no mirror, downloads disabled, the baked image.
	bootPlan := filepath.Join(bootDir, "kismatic-cluster.yaml")
	writeBakedPlan(t, bakePlan, bootPlan, bakedImage)
	for _, f := range []string{"kismaticuser.key", "kismaticuser.key.pub"} {
		data, err := os.ReadFile(filepath.Join(bakeDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bootDir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bp, rep, err := plan.Load(bootPlan)
	if err != nil || bp == nil {
		t.Fatalf("plan %s: %v %v", bootPlan, err, rep)
	}
	t0 = time.Now()
	run(t, bootDir, logFile, commandWait, "validate", "-f", bootPlan)
	run(t, bootDir, logFile, commandWait, "render", "-f", bootPlan)
	ph.add("render", time.Since(t0))

	t.Cleanup(func() {
		for _, n := range bp.Nodes {
			src := filepath.Join(bootDir, plan.DefaultQEMUDir, bp.Name, n.Host, qemu.ConsoleFileName)
			if b, err := os.ReadFile(src); err == nil {
				_ = os.WriteFile(filepath.Join(work, "logs", n.Host+".console.log"), b, 0o644)
			}
		}
		if err := runErr(t, bootDir, logFile, 5*time.Minute, "provision", "qemu", "-f", bootPlan, "--destroy", "--yes"); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	tBoot := time.Now()
	addr := provision(t, ph, bootDir, logFile, bootPlan, len(bp.Nodes))
	// The VMs' only network to this machine is the restricted one, with no forward.
	for _, n := range bp.Nodes {
		vmDir, err := qemu.VMDir(bp, n.Host)
		if err != nil {
			t.Fatal(err)
		}
		cmdline, err := os.ReadFile(filepath.Join(vmDir, qemu.CmdlineFileName))
		if err != nil {
			t.Fatal(err)
		}
		if s := string(cmdline); !strings.Contains(s, "restrict=on") || strings.Contains(s, "guestfwd") {
			t.Fatalf("%s: the VM is not cut off from this machine:\n%s", n.Host, s)
		}
	}

	t0 = time.Now()
	verifyErr := runErr(t, bootDir, logFile, verifyWait+5*time.Minute, "verify", "-f", bootPlan, "--wait", verifyWait.String(), "--interval", "20s",
		"--dial-timeout", "60s", "--command-timeout", "3m", "--concurrency", "4")
	ph.add("verify --wait", time.Since(t0))
	if verifyErr != nil {
		dumpNodes(t, bp, addr, signer)
		t.Fatal(verifyErr)
	}
	ph.add("boot to verified", time.Since(tBoot))

	// Every node took the baked path: nothing was downloaded.
	for _, n := range bp.Nodes {
		out, err := sshRun(addr[n.Host], bp.SSH.User, signer, "sudo cat "+roles.StatusPath)
		var st roles.Status
		if err != nil || json.Unmarshal([]byte(out), &st) != nil {
			t.Errorf("%s: status file: %v %s", n.Host, err, out)
			continue
		}
		if st.InstallPath != "baked" {
			t.Errorf("%s: installPath %q, want baked (status %s)", n.Host, st.InstallPath, out)
		}
		// kisgen's scripts came from the image's store, named by sum in the user-data
		// (roles.ImageFiles), not carried by it.
		bootstrap := roles.BinDir + "/kisgen-bootstrap"
		out, err = sshRun(addr[n.Host], bp.SSH.User, signer, "cat "+roles.FetchListPath+"; sudo journalctl -b -u kisgen-install.service --no-pager -o cat | grep -F "+shellQuote(bootstrap+": from "+roles.ImageFilesDir))
		if err != nil || !strings.Contains(out, bootstrap+"\t0755\t") || !strings.Contains(out, "\t-\n") {
			t.Errorf("%s: %s was not taken from the image's %s: %v\n%s", n.Host, bootstrap, roles.ImageFilesDir, err, out)
		}
		// the build VM's user and key did not stay in the image
		if out, err := sshRun(addr[n.Host], bp.SSH.User, signer, "getent passwd "+packer.BuildUser+" || echo absent"); err != nil || strings.TrimSpace(out) != "absent" {
			t.Errorf("%s: build user %s is still in the image: %v %s", n.Host, packer.BuildUser, err, out)
		}
	}
	t0 = time.Now()
	checkCluster(t, bp, addr, signer)
	ph.add("pod from baked image", time.Since(t0))
	ph.add("total", time.Since(tAll))

	var sum bytes.Buffer
	ph.summary(&sum, fmt.Sprintf("e2e baked minimal: %d nodes, accel %s, packer %s", len(bp.Nodes), accelOf(bootDir), packerVersion(packerBin)))
	t.Log("\n" + sum.String())
	if f, err := os.OpenFile(filepath.Join(root, ".cache", "e2e", "timings.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		f.Write(sum.Bytes())
		f.Close()
	}
}

// writeBakedPlan turns the bake plan into the plan of a cluster booted from the baked
// image: another cluster name (its VMs must not collide with the download e2e), no
// mirror (so no forward to one), downloads disabled, the baked image.
func writeBakedPlan(t *testing.T, src, dst, bakedImage string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	cl := doc["cluster"].(map[string]any)
	cl["name"] = "baked"
	cl["disable_package_installation"] = true
	cl["disconnected_installation"] = true
	delete(doc, "mirror")
	prov := doc["provider"].(map[string]any)["qemu"].(map[string]any)
	prov["image"] = bakedImage
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runPacker runs `packer SUB ARGS… DIR/` in dir's parent, logging to logFile.
func runPacker(t *testing.T, bin, dir, logFile, sub string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bakeWait)
	defer cancel()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	argv := []string{sub}
	if sub == "build" {
		argv = append(argv, "-color=false")
	}
	argv = append(append(argv, args...), filepath.Base(dir)+"/")
	fmt.Fprintf(f, "$ packer %s\n", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Dir = filepath.Dir(dir)
	cmd.Env = append(os.Environ(), "PACKER_CACHE_DIR="+filepath.Join(userCache(t), "packer"), "CHECKPOINT_DISABLE=1")
	var tail bytes.Buffer
	cmd.Stdout = io.MultiWriter(f, &tail, testLog{t})
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		out := tail.String()
		if len(out) > 6000 {
			out = out[len(out)-6000:]
		}
		t.Fatalf("packer %s: %v (log %s)\n%s", strings.Join(argv, " "), err, logFile, out)
	}
}

func packerVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
