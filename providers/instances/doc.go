// Package instances is the record of the machines a plan runs on: for every node, which
// provider booted it, the provider's machine id, where its sshd answers (host:port) and
// the SSH host key kisgen pinned for it. `kisgen provision` writes it, whichever provider
// it ran (STATE/instances.json); `kisgen verify` reads only this record, never a
// provider's private record (STATE/providers/NAME.json), so verify needs to know nothing
// about any provider.
//
// The document is versioned (apiVersion, kind), read strictly, written atomically with
// mode 0600 and sorted by node, so the same machines always give the same bytes.
package instances
