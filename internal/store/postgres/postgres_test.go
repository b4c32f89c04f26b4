package postgres

import (
	"testing"

	"casella/internal/pgtest"
	"casella/internal/store"
	"casella/internal/store/storetest"
)

// openTest opens a store on a new database of srv, closed when t ends.
func openTest(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, srv.CreateDB(t)) })
}
