// Package v1alpha1 is the kisgen plan schema, apiVersion kisgen.io/v1alpha1, kind
// ClusterPlan: the Kismatic v1.12 plan's sections plus kisgen's own. The comments and
// tags of types.go (+default=, +options=, +required, +deprecated) are the reference:
// internal/gendocs turns them into docs/plan.md and into docs_generated.go, which Doc
// serves to the code that writes commented plan files.
package v1alpha1

// FieldDoc documents one field of the schema.
type FieldDoc struct {
	// Doc is the field's comment, without its tags, one source line per line.
	Doc string
	// Default is the value a missing key takes, when the field documents one.
	Default string
	// Options are the values the field accepts, when it is a choice.
	Options []string
	// Required fields must be in every plan.
	Required bool
	// Deprecated fields are accepted for old plans; new plans should not use them.
	Deprecated bool
}

// fieldDocs is filled by docs_generated.go, keyed by "Type.key".
var fieldDocs map[string]FieldDoc

// Doc returns the documentation of the field with YAML key key in the struct type named
// typeName (e.g. "Cluster", "name").
func Doc(typeName, key string) (FieldDoc, bool) {
	d, ok := fieldDocs[typeName+"."+key]
	return d, ok
}
