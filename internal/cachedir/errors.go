package cachedir

import "errors"

// ErrNoCache is returned when no cache directory can be found: no flag, no KISGEN_CACHE,
// no XDG_CACHE_HOME and no home directory.
var ErrNoCache = errors.New("no cache directory")
