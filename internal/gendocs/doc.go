// Command gendocs writes the plan file reference, docs/plan.md, and the field
// documentation the plan writer puts into the files it writes
// (plan/v1alpha1/docs_generated.go), both from plan/v1alpha1/types.go: each field's
// comment and its tags (+default=, +options=, +required, +deprecated), plus the Kismatic
// key mapping table (plan.KismaticKeys). Run it with `go generate ./plan/...`; a test
// fails when the committed files are stale.
package main
