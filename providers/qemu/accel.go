package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Accel is the chosen accelerator and why.
type Accel struct {
	// Name is "kvm" or "tcg".
	Name string
	// Reason says why, for the progress output.
	Reason string
}

// Args are qemu's accelerator and CPU arguments for a VM of memoryMB.
func (a Accel) Args(memoryMB int) []string {
	if a.Name == "kvm" {
		return []string{"-accel", "kvm", "-cpu", "host"}
	}
	return []string{"-accel", fmt.Sprintf("tcg,tb-size=%d", tbSize(memoryMB)), "-cpu", "max"}
}

// KernelArgs are the guest kernel arguments the accelerator needs besides the root and the
// console. Under TCG the kernel's TSC synchronisation test (tight loops on two vCPUs) fails
// on a VM of two or more vCPUs, so it marks the TSC unstable and falls back to the HPET,
// whose every read is an emulated MMIO access taken under qemu's global lock: 1,170 ns a
// clock read against 113 ns with the TSC, measured with two vCPUs on a 2-core host. Go
// programs (etcd, the API server, the kubelet) read the clock at every scheduling step,
// so the whole node slowed down. qemu derives every vCPU's TSC from one host clock, so
// the TSC is in fact synchronised and tsc=reliable is true here. KVM guests use kvm-clock.
func (a Accel) KernelArgs() []string {
	if a.Name == "kvm" {
		return nil
	}
	return []string{"tsc=reliable"}
}

// tbSize is TCG's translation cache in MiB: a quarter of the guest's memory, between 128
// and 512. The default (1 GiB) costs that much host memory per VM; 128 MiB is enough to
// boot, but a master runs several large Go binaries whose hot code no longer fits, and
// retranslating it made kube-apiserver miss its etcd dial deadline.
func tbSize(memoryMB int) int {
	return min(max(memoryMB/4, 128), 512)
}

var (
	kvmOnce   sync.Once
	kvmResult Accel
)

// sysModule is where loaded kernel modules appear; tests point it elsewhere.
var sysModule = "/sys/module"

// ChooseAccel decides between KVM and TCG. want is the plan's provider.qemu.accel:
// "tcg" forces TCG, "kvm" requires KVM to work, "auto" (or "") uses KVM only when a
// hardware KVM module (kvm_intel or kvm_amd) is loaded, /dev/kvm opens, and a short test
// boot of kernel under KVM reaches the kernel's panic for a missing root: /dev/kvm alone
// is not enough (a nested or PVM-backed /dev/kvm dies with "KVM internal error").
func ChooseAccel(ctx context.Context, qemuBin, want, kernel string) (Accel, error) {
	switch want {
	case "tcg":
		return Accel{Name: "tcg", Reason: "provider.qemu.accel is tcg"}, nil
	case "kvm", "auto", "":
	default:
		return Accel{}, fmt.Errorf("provider.qemu.accel %q: use auto, kvm or tcg", want)
	}
	kvmOnce.Do(func() { kvmResult = probeKVM(ctx, qemuBin, kernel) })
	if want == "kvm" && kvmResult.Name != "kvm" {
		return Accel{}, fmt.Errorf("%w: %s (set provider.qemu.accel to auto or tcg)", ErrKVM, kvmResult.Reason)
	}
	return kvmResult, nil
}

func probeKVM(ctx context.Context, qemuBin, kernel string) Accel {
	tcg := func(why string) Accel { return Accel{Name: "tcg", Reason: why} }
	mod := ""
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat(filepath.Join(sysModule, m)); err == nil {
			mod = m
		}
	}
	if mod == "" {
		why := "no hardware KVM module (kvm_intel or kvm_amd) is loaded"
		if _, err := os.Stat(filepath.Join(sysModule, "kvm_pvm")); err == nil {
			why += "; /dev/kvm comes from kvm_pvm, which cannot run stock kernels"
		}
		return tcg(why)
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return tcg(fmt.Sprintf("%s is loaded but /dev/kvm cannot be opened: %v", mod, err))
	}
	f.Close()
	if err := testBoot(ctx, qemuBin, kernel); err != nil {
		return tcg(fmt.Sprintf("%s is loaded but a test boot under KVM failed: %v", mod, err))
	}
	return Accel{Name: "kvm", Reason: mod + " loaded and a test boot under KVM succeeded"}
}

// testBoot boots kernel under KVM with no root file system: a working KVM reaches the
// kernel's "Kernel panic" for the missing root within seconds, and -no-reboot makes qemu
// exit then.
func testBoot(ctx context.Context, qemuBin, kernel string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, qemuBin, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-no-user-config",
		"-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", kernel, "-append", "console=ttyS0 panic=-1 root=/dev/kisgen-none")
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if strings.Contains(text, "Kernel panic") || strings.Contains(text, "VFS: Unable to mount root") {
		return nil
	}
	last := text
	if len(last) > 300 {
		last = last[len(last)-300:]
	}
	if err == nil {
		err = fmt.Errorf("the kernel did not reach its panic")
	}
	return fmt.Errorf("%v: %s", err, strings.TrimSpace(last))
}
