package binbuild

import "errors"

// ErrMissingTool is returned when a build needs a system tool or library that is not
// installed (runc's static libseccomp).
var ErrMissingTool = errors.New("build dependency missing")
