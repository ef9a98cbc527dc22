package intent

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRecordAndHistory: the record reads back as written, an unknown field or another
// schema is refused, and a history line cut short by a crash is left out while a bad
// line before the end is an error.
func TestRecordAndHistory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("no record: %v", err)
	}
	at := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	want := &Record{Schema: Schema, Cluster: "lab", EtcdInitialCluster: "etcd1=https://10.0.0.1:2380",
		Nodes: map[string]Node{"worker1": {Roles: []string{"worker"}, Fingerprint: "ab", Applied: at}}, Updated: at}
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if st, err := os.Stat(Path(dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("record file: %v %v", st, err)
	}
	if err := os.WriteFile(Path(dir), []byte(`{"schema":"kisgen.io/intent/v1","cluster":"lab","extra":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrBadRecord) {
		t.Errorf("unknown field: %v", err)
	}

	if err := Append(dir, Event{Time: at, Action: "create", Host: "worker1", Outcome: "ok"}, Event{Time: at, Action: "replace", Host: "etcd1", Outcome: "started"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(HistoryPath(dir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"time":"2026-12-06T21:00:00Z","act`)
	f.Close()
	events, err := History(dir)
	if err != nil || len(events) != 2 || events[1].Host != "etcd1" {
		t.Errorf("history with a cut last line: %v %+v", err, events)
	}
	data, _ := os.ReadFile(HistoryPath(dir))
	if err := os.WriteFile(HistoryPath(dir), append([]byte("not json\n"), data...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := History(dir); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a bad line in the middle: %v", err)
	}
}
