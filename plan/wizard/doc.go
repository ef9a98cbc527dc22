// Package wizard writes kisgen plan files. It runs the interview of `kisgen plan` (the
// questions of the Kismatic installer guide, each also answerable by a flag, with the
// guide's defaults), turns the answers into a plan, converts Kismatic v1.12 plans into the
// kisgen schema, and writes either as a commented kismatic-cluster.yaml: built as a YAML
// node tree, checked by package plan's own rules before it is written, written atomically
// and never over an existing plan unless asked to. It also creates the SSH key pair the
// plan names when there is none.
package wizard
