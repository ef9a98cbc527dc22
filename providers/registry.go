package providers

import (
	"fmt"
	"sort"
	"sync"
)

// Factory creates a provider. Providers register a factory from their package's init, and
// main imports every provider package in one place (cmd/providers.go).
type Factory func() Provider

var (
	mu        sync.Mutex
	factories = map[string]Factory{}
)

// Register makes a provider available by name. It panics on a duplicate name: that is a
// programming error caught by any test.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("providers: " + name + " registered twice")
	}
	factories[name] = f
}

// Get returns a new provider by name.
func Get(name string) (Provider, error) {
	mu.Lock()
	defer mu.Unlock()
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknown, name, namesLocked())
	}
	return f(), nil
}

// Names lists the registered providers, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	return namesLocked()
}

func namesLocked() []string {
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
