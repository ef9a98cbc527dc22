package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/kisgen/kisgen/internal/atomicfile"
)

// Progress writes one line per event, prefixed with the provider and node, safely from
// concurrent goroutines. A nil writer discards everything.
type Progress struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

// NewProgress returns a Progress writing to w with lines prefixed by "provider: ".
func NewProgress(w io.Writer, provider string) *Progress {
	return &Progress{w: w, prefix: provider + ": "}
}

// Printf writes a line about the whole run.
func (p *Progress) Printf(format string, a ...any) {
	p.Node("", format, a...)
}

// Node writes a line about one node ("aws: master1: created i-0abc").
func (p *Progress) Node(host, format string, a ...any) {
	if p == nil || p.w == nil {
		return
	}
	msg := fmt.Sprintf(format, a...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if host != "" {
		fmt.Fprintf(p.w, "%s%s: %s\n", p.prefix, host, msg)
		return
	}
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, msg)
}

// NodeError names the node a failure belongs to; errors.Is and errors.As see through it.
type NodeError struct {
	Host string
	Err  error
}

func (e *NodeError) Error() string { return e.Host + ": " + e.Err.Error() }
func (e *NodeError) Unwrap() error { return e.Err }

// ForEach runs fn for every machine with at most limit running at once. A failing node
// does not stop the others: every failure is returned, joined, each wrapped in a
// NodeError. Nodes not yet started when ctx is cancelled fail with ctx's error.
func ForEach(ctx context.Context, machines []Machine, limit int, fn func(ctx context.Context, m Machine) error) error {
	if limit < 1 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	errs := make([]error, len(machines))
	var wg sync.WaitGroup
	for i, m := range machines {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = &NodeError{Host: m.Node.Host, Err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, m); err != nil {
				errs[i] = &NodeError{Host: m.Node.Host, Err: err}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RecordPath is where a provider records what it created: STATE/providers/NAME.json.
func RecordPath(stateDir, provider string) string {
	return filepath.Join(stateDir, "providers", provider+".json")
}

// SaveRecord writes v as indented JSON to RecordPath atomically (0600: it names cloud
// resources, which is not secret, but there is no reason to share it).
func SaveRecord(stateDir, provider string, v any) error {
	path := RecordPath(stateDir, provider)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("record %s: %w", path, err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("record %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}

// LoadRecord reads RecordPath into v. It reports false, with no error, when there is no
// record yet.
func LoadRecord(stateDir, provider string, v any) (bool, error) {
	path := RecordPath(stateDir, provider)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read record %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%w: %s: %v (remove it only if nothing it lists still exists)", ErrBadRecord, path, err)
	}
	return true, nil
}
