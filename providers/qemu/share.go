package qemu

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A VM's share of a busy host. qemu -daemonize starts a session of its own (setsid), and
// a kernel that schedules by autogroup (sched_autogroup_enabled, on in Debian's and
// most distributions' kernels) treats each session as one group with one weight: every
// VM then gets the same share of a contended host whatever its vCPU count. On two host
// cores a 3-vCPU master beside a 1-vCPU worker got one core and the worker the other,
// so the machine sizes the plan gives said nothing about who ran: the master, which
// every node waits on, starved while the worker used a core (measured in the Calico
// cluster test: 99.6 % and 97.7 % of a core). kisgen gives each VM's group a weight in
// proportion to its vCPUs, as threads competing one by one would have had: the largest
// VMs keep nice 0 and smaller ones get the autogroup nice whose weight is nearest.

// autogroupEnabled says whether the kernel schedules by autogroup (tests replace it).
var autogroupEnabled = func() bool {
	b, err := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// niceWeights is the kernel's CFS weight of nice 0 to 19 (sched_prio_to_weight).
var niceWeights = [...]float64{1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15}

// shareNice is the autogroup nice of a VM of cpus vCPUs among VMs whose largest has
// largest: the nice whose weight is nearest (by ratio) to cpus/largest of nice 0's. Only
// positive values, since lowering a nice needs privileges that kisgen does not ask for.
func shareNice(cpus, largest int) int {
	if cpus <= 0 || largest <= cpus {
		return 0
	}
	want := niceWeights[0] * float64(cpus) / float64(largest)
	best := 0
	for n, w := range niceWeights {
		if math.Abs(math.Log(w/want)) < math.Abs(math.Log(niceWeights[best]/want)) {
			best = n
		}
	}
	return best
}

// setShare sets the scheduling group of qemu process pid to nice. The kernel takes at
// most one such change every 100 ms from an unprivileged process (EAGAIN), so it is
// tried again a few times.
func setShare(pid, nice int) error {
	path := "/proc/" + strconv.Itoa(pid) + "/autogroup"
	var err error
	for range 10 {
		if err = os.WriteFile(path, []byte(strconv.Itoa(nice)), 0); !errors.Is(err, syscall.EAGAIN) {
			break
		}
		time.Sleep(110 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("set the host CPU share of pid %d (autogroup nice %d): %w", pid, nice, err)
	}
	return nil
}

// largestCPUs is the vCPU count of the largest of vms.
func largestCPUs(vms []*vm) int {
	largest := 1
	for _, v := range vms {
		largest = max(largest, v.cpus)
	}
	return largest
}

// shareHost gives VM v, running as qemu process pid, its share of the host among VMs
// whose largest has largest vCPUs (shareNice), when the kernel schedules by autogroup,
// and reports a share below nice 0's.
func shareHost(prog *progress, v *vm, pid, largest int) {
	if !autogroupEnabled() {
		return
	}
	nice := shareNice(v.cpus, largest)
	if err := setShare(pid, nice); err != nil {
		prog.say(v.node.Host, "warning: %v; it competes for the host's CPUs as an equal of every larger VM", err)
		return
	}
	if nice > 0 {
		prog.say(v.node.Host, "host CPU share for %d vCPU of the largest VM's %d (autogroup nice %d)", v.cpus, largest, nice)
	}
}
