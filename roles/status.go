package roles

// StatusPath is where a node's install records its progress. `kisgen verify` reads it.
const StatusPath = "/var/lib/kisgen/status.json"

// Phases of a node's install, in the order they happen.
const (
	PhasePending   = "pending"   // user-data written, install not started
	PhasePreflight = "preflight" // inspector checks running
	PhaseInstall   = "install"   // fetching or finding binaries
	PhaseConfigure = "configure" // starting units
	PhaseDone      = "done"      // every unit of the node's roles is up
	PhaseFailed    = "failed"    // stopped; Error says why
)

// Status is the JSON document at StatusPath, written by the node's bootstrap script with
// every change of phase (atomically: temp file and rename).
type Status struct {
	Phase string `json:"phase"`
	// Step is the last step started, e.g. "fetch kubelet", "start etcd".
	Step string `json:"step,omitempty"`
	// Error is the readable reason when Phase is failed.
	Error string `json:"error,omitempty"`
	// Host and Roles as planned.
	Host  string   `json:"host"`
	Roles []string `json:"roles"`
	// Versions installed, by component.
	Versions map[string]string `json:"versions,omitempty"`
	// InstallPath is "download" when binaries were fetched from the mirror, "baked" when
	// the image already had them (its manifest matched), or "mixed".
	InstallPath string `json:"installPath,omitempty"`
	// Preflight holds every inspector check and its result.
	Preflight []Check `json:"preflight,omitempty"`
	// UserDataSHA256 identifies the rendered user-data that ran.
	UserDataSHA256 string `json:"userDataSha256,omitempty"`
	// ConfigSHA256 identifies the node's rendered model (roles.Node.ConfigSHA256, listed
	// in render's manifest.json): the same for the cloud-init and Ignition forms, so
	// `kisgen verify` can tell whether a node runs what was rendered for it.
	ConfigSHA256 string `json:"configSha256,omitempty"`
	// Started and Updated are RFC 3339 UTC times.
	Started string `json:"started,omitempty"`
	Updated string `json:"updated,omitempty"`
}

// Check is one pre-flight check's result.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	// Fatal checks stop the install when they fail; others only warn.
	Fatal bool `json:"fatal,omitempty"`
}
