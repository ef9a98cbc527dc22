// Package render turns each node's model (package roles) into user-data: cloud-init
// (#cloud-config: write_files, users, runcmd; marshalled from typed values) or Ignition
// (a Butane document translated with Butane, warnings treated as errors, and the JSON
// validated with Ignition's own parser). Both formats are made from the same model, so
// they write the same files with the same modes and bytes.
//
// Render measures every node's user-data (raw, gzip, base64) and checks it against the
// provider's budget (EC2: 16,384 bytes); Write puts the user-data and manifest.json into
// the output directory atomically. The record of intent (Record) kept in the state
// directory lets Diff say which nodes a plan change would touch and why.
//
// Output is deterministic: the same plan and PKI give byte-identical user-data (sorted
// maps, gzip without timestamps, nodes rendered concurrently into fixed slots).
package render
