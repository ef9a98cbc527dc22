// Package topology describes a loaded plan as the table `kisgen validate` and `kisgen plan`
// print: every node with its roles, addresses, operating system, user-data format and
// labels; the address clients use for the API servers and the masters behind it; and how
// the pod range is divided between the nodes.
//
// It is a typed value (Of) so that text (Write) and JSON output show the same facts, and so
// that a test can read it without parsing text.
package topology
