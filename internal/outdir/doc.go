// Package outdir writes the directories kisgen replaces as a whole (render's user-data,
// the PXE bundle) so that nothing else is ever lost and an interrupted run is repaired
// by the next one.
//
// # What may be replaced
//
// Check refuses an output path that is, contains or lies inside a protected path (the
// state directory with the CA keys, the plan, its SSH key), and an existing directory
// that is not empty and was not written by kisgen. kisgen knows its own output by the
// marker file .kisgen-output it writes into it, which names the kind of output, the
// cluster and the state directory's cluster id: user-data of another cluster, or a PXE
// bundle where user-data is asked for, is refused too. Output written before markers
// existed is recognised by a file only it held (Options.Legacy, e.g. manifest.json).
//
// # The swap and its journal
//
// The new content is staged beside the output (.NAME.tmp-RANDOM) and swapped in with
// two renames: NAME -> .NAME.old-RANDOM, then .NAME.tmp-RANDOM -> NAME. Between the two
// there is no NAME at all, so before the first rename Commit writes a journal,
// .NAME.swap, naming both directories (after the staged content is on disk). The next
// Begin on that output reads it and repairs the swap:
//
//   - NAME is there and the staged directory is gone: the new output was in place, so
//     the swap is completed (the previous output is removed);
//   - NAME is missing and the previous output is there: the crash came between the
//     renames, so it is rolled back (the previous output goes back to NAME);
//   - otherwise the crash came before the first rename: the staged directory is
//     removed and NAME is as it was.
//
// Rolling back rather than forward keeps the promise of a failed render: the last
// output that a command reported as written stays. A journal was chosen over a
// symlink flip (NAME -> .NAME.gen-N) because readers of the output (bundle pxe, serve
// pxe, the providers) and users' scripts expect NAME to be a directory, and because
// a bundle server must not follow symlinks.
//
// Staging and old directories left without a journal (an abort that could not clean up,
// or kisgen versions before the journal, whose old directory was NAME.old-.NAME.tmp-*)
// are removed by the next Begin; if NAME itself is missing, the newest old directory
// is put back first. They hold private keys, so they must not stay around.
//
// # Locking
//
// Begin takes an flock on .NAME.lock beside the output and Commit or Abort releases it,
// so two runs writing the same output (two renders, or a render and a recovery) never
// interleave: the second waits. The lock file stays; removing it while another run
// waits on it would let a third run lock a different file.
package outdir
