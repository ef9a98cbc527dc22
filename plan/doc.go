// Package plan reads kisgen cluster plans and checks them.
//
// A plan file is either a kisgen document (apiVersion kisgen.io/v1alpha1, kind
// ClusterPlan, types in plan/v1alpha1) or, when it has no apiVersion, a plan of Apprenda's
// Kismatic installer v1.12 (plan/kismatic), whose deprecated keys are mapped to their
// successors. Either is checked against its schema first (unknown keys with a did-you-mean,
// wrong types, duplicate keys: all reported at once with line and column), then converted
// into one internal model, Plan, which is the only thing the rest of kisgen uses. Content
// rules (addresses, ranges, counts, names, protected flags…) then run on the model and
// report against the source file's paths and positions, even for renamed legacy keys.
package plan

//go:generate go run ../internal/gendocs
