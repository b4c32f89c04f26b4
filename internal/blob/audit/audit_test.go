package audit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"casella/internal/blob"
	"casella/internal/blob/fs"
	"casella/internal/blob/replicated"
)

// refs is a mailbox store's view of the blobs its messages refer to.
type refs map[blob.Key]bool

func (r refs) Blobs(ctx context.Context, fn func(blob.Key) error) error {
	keys := make([]blob.Key, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (r refs) BlobReferenced(ctx context.Context, key blob.Key) (bool, error) {
	return r[key], nil
}

func TestAudit(t *testing.T) {
	var dirs []*fs.Store
	var replicas []replicated.Replica
	for i := range 2 {
		d, err := fs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
		replicas = append(replicas, replicated.Replica{Name: fmt.Sprintf("r%d", i), Store: d})
	}
	set, err := replicated.New(replicas, replicated.Options{HintDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	r := refs{}
	var keys []blob.Key
	for i := range 5 {
		key, err := set.Put(t.Context(), fmt.Appendf(nil, "message %d", i))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		r[key] = true
	}
	orphan, err := set.Put(t.Context(), []byte("delivery that never committed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dirs[1].Path(keys[0]), []byte("rot"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dirs[0].Path(keys[1])); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.Remove(d.Path(keys[2])); err != nil {
			t.Fatal(err)
		}
	}

	var phases []string
	rep, err := Run(t.Context(), r, set, Options{Progress: func(p Progress) { phases = append(phases, p.Phase) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Healthy() || rep.Referenced != 5 || len(rep.Damaged) != 2 || len(rep.Lost) != 1 || rep.Lost[0].Key != keys[2] ||
		len(rep.Orphans) != 1 || rep.Orphans[0].Key != orphan || rep.Repaired() != 0 {
		t.Fatalf("audit = %+v", rep)
	}
	if !slices.Contains(phases, "referenced") || !slices.Contains(phases, "orphans") {
		t.Fatalf("progress reported phases %v", phases)
	}

	rep, err = Run(t.Context(), r, set, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repaired() != 2 || len(rep.Lost) != 1 {
		t.Fatalf("audit with repair = %+v", rep)
	}
	delete(r, keys[2]) // the operator expunged the lost message
	rep, err = Run(t.Context(), r, set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Healthy() || len(rep.Damaged) != 0 {
		t.Fatalf("audit after repair = %+v", rep)
	}
}
