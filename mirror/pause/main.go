// Command pause is kisgen's stand-in for registry.k8s.io/pause, for air-gapped mirrors that
// cannot copy the real image: a static binary that holds a pod's namespaces, reaps
// orphaned children, and exits on SIGINT or SIGTERM, as the real one does. `kisgen mirror
// build --pause-image` compiles this file (embedded in the mirror package) and packs it as
// an image archive on the mirror; nodes import it into containerd at boot.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
