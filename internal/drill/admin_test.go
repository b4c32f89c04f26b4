package drill

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"casella/internal/faults"
)

func TestAdminFaults(t *testing.T) {
	inj := faults.New(nil)
	mux := http.NewServeMux()
	mux.Handle("/admin/faults", inj)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a, err := NewAdmin(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	state, err := a.Inject(ctx, faults.TargetStore, faults.Hang)
	if err != nil || state[faults.TargetStore] != faults.Hang {
		t.Fatalf("Inject = %v, %v", state, err)
	}
	if inj.Current(faults.TargetStore) != faults.Hang {
		t.Fatalf("server state after Inject: %v", inj.State())
	}
	if _, err := a.Inject(ctx, faults.TargetBlob, faults.Corrupt); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Inject(ctx, faults.TargetStore, faults.Corrupt); err == nil {
		t.Fatal("Inject of a fault the target does not take succeeded")
	}
	state, err = a.Clear(ctx, faults.TargetBlob)
	if err != nil || state[faults.TargetBlob] != faults.None || state[faults.TargetStore] != faults.Hang {
		t.Fatalf("Clear(blob) = %v, %v", state, err)
	}
	if _, err := a.Clear(ctx, ""); err != nil {
		t.Fatal(err)
	}
	state, err = a.Faults(ctx)
	if err != nil || state[faults.TargetStore] != faults.None || state[faults.TargetBlob] != faults.None {
		t.Fatalf("Faults after clearing all = %v, %v", state, err)
	}
}

func TestAdminFaultsNotAllowed(t *testing.T) {
	srv := httptest.NewServer(http.NewServeMux())
	defer srv.Close()
	a, err := NewAdmin(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Inject(t.Context(), faults.TargetStore, faults.Error); !errors.Is(err, ErrFaultsNotAllowed) {
		t.Fatalf("Inject on a server without the endpoint = %v", err)
	}
}

func TestNewAdmin(t *testing.T) {
	for _, bad := range []string{"ftp://host:1", "http://", "::"} {
		if _, err := NewAdmin(bad); err == nil {
			t.Errorf("NewAdmin(%q) succeeded", bad)
		}
	}
	a, err := NewAdmin("http://127.0.0.1:8080/")
	if err != nil || a.URL != "http://127.0.0.1:8080" {
		t.Fatalf("NewAdmin = %+v, %v", a, err)
	}
}
