package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"casella/internal/blob"
	"casella/internal/blob/s3/s3test"
	"casella/internal/config"
	"casella/internal/server"
	"casella/internal/store"
	"casella/internal/store/sqlite"
)

// deliver stores n messages for one account in the data directory the
// way a delivery does, blob first, and one blob that no message refers to.
func deliver(t *testing.T, dir, configFile string, n int) (keys []blob.Key, orphan blob.Key) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(configFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	blobs, err := server.OpenBlobs(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	st, err := sqlite.Open(filepath.Join(dir, server.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct := store.Account(1)
	if err := st.EnsureAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	inbox, err := st.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i, i)
		key, err := blobs.Store.Put(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, acct, inbox.ID, []store.NewMessage{{Blob: key, Size: int64(len(data))}}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	orphan, err = blobs.Store.Put(ctx, []byte("a delivery that never committed"))
	if err != nil {
		t.Fatal(err)
	}
	return keys, orphan
}

func blobPath(dir string, key blob.Key) string {
	k := string(key)
	return filepath.Join(dir, server.BlobDir, k[0:2], k[2:4], k)
}

func TestVerifyFS(t *testing.T) {
	a := admin{t, t.TempDir()}
	keys, orphan := deliver(t, a.dir, "", 3)
	out := a.ok("verify")
	if !strings.Contains(out, "3 referenced blobs on 1 replicas: 3 healthy") || !strings.Contains(out, "ORPHAN   "+string(orphan)) {
		t.Fatalf("verify of a healthy store printed %q", out)
	}
	if err := os.WriteFile(blobPath(a.dir, keys[1]), []byte("rot"), 0o640); err != nil {
		t.Fatal(err)
	}
	r := a.run("", "verify", "--repair")
	checkFail(t, r, 1, []string{"verify"}, "not healthy", "backup")
	if !strings.Contains(r.stdout, "LOST     "+string(keys[1])) || !strings.Contains(r.stdout, "corrupt") {
		t.Fatalf("verify of a corrupt single copy printed %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "verify: 3 referenced blobs checked, 1 with a bad copy") {
		t.Fatalf("no progress on stderr: %q", r.stderr)
	}
}

// TestVerifyReplicated damages one copy on each of the filesystem and S3
// replicas: verify finds both, --repair copies the good replica over, and
// the store is healthy again.
func TestVerifyReplicated(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	a := admin{t, t.TempDir()}
	cfgFile := filepath.Join(t.TempDir(), "casella.toml")
	cfgText := fmt.Sprintf(`
[blob]
backend = "replicated"
[blob.s3]
endpoint = %q
bucket = %q
access_key = %q
secret_key = %q
path_style = true
[blob.replicated]
children = ["fs", "s3"]
`, srv.Endpoint(), bucket, srv.AccessKey, srv.SecretKey)
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, _ := deliver(t, a.dir, cfgFile, 4)
	if err := os.Remove(blobPath(a.dir, keys[0])); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srv.Dir, bucket, string(keys[2])), []byte("rot"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := a.run("", "verify", "--config", cfgFile)
	checkFail(t, r, 1, []string{"verify"}, "not healthy", "--repair")
	for _, want := range []string{"DAMAGED  " + string(keys[0]), "fs bad", "DAMAGED  " + string(keys[2]), "s3 bad", "corrupt",
		"4 referenced blobs on 2 replicas: 2 healthy, 2 damaged"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("verify output lacks %q:\n%s", want, r.stdout)
		}
	}
	out := a.ok("verify", "--repair", "--config", cfgFile)
	if !strings.Contains(out, "REPAIRED "+string(keys[0])) || !strings.Contains(out, "2 copies repaired") || !strings.Contains(out, "\nhealthy") {
		t.Fatalf("verify --repair printed %q", out)
	}
	out = a.ok("verify", "--config", cfgFile)
	if !strings.Contains(out, "4 referenced blobs on 2 replicas: 4 healthy, 0 damaged") {
		t.Fatalf("verify after repair printed %q", out)
	}
}
