package cmd

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/httpserve"
	"github.com/kisgen/kisgen/providers/pxe"
)

// serverLimitsHelp says, for both file servers' help, what a client may hold of them.
var serverLimitsHelp = fmt.Sprintf(`A client has %d s to send its request headers; a keep-alive connection is closed
after %d s idle; a download whose writes make no progress for %d s is dropped; at most
%d connections are open at once, and idle ones are closed first to make room.`,
	int(httpserve.DefaultReadHeader.Seconds()), int(httpserve.DefaultIdle.Seconds()), int(httpserve.DefaultStall.Seconds()), httpserve.DefaultMaxConns)

func newServeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a PXE bundle over HTTP",
	}
	c.AddCommand(newServePXECmd())
	return c
}

func newServePXECmd() *cobra.Command {
	var (
		listen, installs string
		anySource        bool
	)
	c := &cobra.Command{
		Use:   "pxe DIR",
		Short: "Serve a bundle 'kisgen bundle pxe' wrote, until interrupted",
		Long: `Serve a PXE bundle read-only over HTTP, with a line per request and a line when a node
fetches its user-data. It must be reachable at the plan's provider.pxe.http_url (by
default it listens on every interface at that URL's port).

A node's user-data (its private keys) is answered only to the node's own address, the
one its DHCP reservation gives it. Behind NAT — qemu's user network, a proxy — every
request comes from one address: --any-source lifts the check there.

The server tells a new machine from an installed one, and records which is which in
--installs (default DIR.installs beside the bundle, one file per MAC address): a machine
it never saw gets its install script (its image and GRUB written to its disk, then a
reboot), whatever its disk holds; a known one boots from its disk, and is installed
again only when the disk does not boot. A machine that booted from its disk and fetched
its user-data is recorded as installed. Remove its file to install a machine again.

` + serverLimitsHelp,
		Example: `  kisgen serve pxe bundle/
  kisgen serve pxe bundle/ --listen 10.20.0.2:8080`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := args[0]
			m, err := pxe.ReadManifest(dir)
			if err != nil {
				return failed(err)
			}
			addr := pxe.ListenAddr(listen, m)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return failed(fmt.Errorf("listen on %s: %w", addr, err))
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(c.ErrOrStderr(), "pxe: serving %s (cluster %s, %d nodes) on %s; nodes use %s\n", dir, m.Cluster, len(m.Nodes), ln.Addr(), m.HTTPURL)
			if anySource {
				fmt.Fprintln(c.ErrOrStderr(), "pxe: --any-source: every node's user-data is answered to any address")
			}
			if installs == "" {
				installs = filepath.Clean(dir) + ".installs"
			}
			fmt.Fprintf(c.ErrOrStderr(), "pxe: install records in %s\n", installs)
			if err := pxe.Serve(ctx, ln, dir, pxe.ServeOptions{AnySource: anySource, Log: c.ErrOrStderr(), Installs: installs}); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "address to listen on (default: every interface, at http_url's port)")
	c.Flags().BoolVar(&anySource, "any-source", false, "answer each node's user-data to any address (behind NAT)")
	c.Flags().StringVar(&installs, "installs", "", "directory of the install records: which machines were handed their install, and which are installed (default DIR.installs)")
	return c
}
