package s3_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
	blobs3 "casella/internal/blob/s3"
	"casella/internal/blob/s3/s3test"
)

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return srv.Open(t) })
}

// TestVirtualHost addresses the bucket as bucket.s3.test instead of in the
// path, as Amazon S3 and most hosted services want.
func TestVirtualHost(t *testing.T) {
	srv := s3test.Start(t)
	opts := srv.Options(t)
	opts.Endpoint = srv.VirtualEndpoint()
	opts.PathStyle = false
	opts.HTTPClient = srv.HTTPClient()
	s, err := blobs3.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open with virtual-host addressing: %v", err)
	}
	data := []byte("addressed by host name")
	key, err := s.Put(t.Context(), data)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Get(t.Context(), key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// The object is where path-style addressing finds it too: both name
	// the same bucket.
	if _, err := os.Stat(filepath.Join(srv.Dir, opts.Bucket, string(key))); err != nil {
		t.Fatalf("object not in bucket %s on the server: %v", opts.Bucket, err)
	}
}

// TestMultipart stores a blob larger than the part size, so it goes up in
// parts, and reads it back whole.
func TestMultipart(t *testing.T) {
	srv := s3test.Start(t)
	opts := srv.Options(t)
	opts.PartSize = 5 << 20
	s, err := blobs3.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 12<<20+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	key, err := s.Put(t.Context(), data)
	if err != nil {
		t.Fatalf("multipart Put: %v", err)
	}
	got, err := s.Get(t.Context(), key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after multipart Put: %d bytes, %v", len(got), err)
	}
	info, err := s.Stat(t.Context(), key)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, %v; want size %d", info, err, len(data))
	}
}

// TestCorruptObject damages an object on the server's disk, behind the
// store's back: Get must refuse it, and a Put of the right content repairs
// it.
func TestCorruptObject(t *testing.T) {
	srv := s3test.Start(t)
	opts := srv.Options(t)
	s, err := blobs3.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("Subject: bit rot\r\n\r\nthe disk under the object store flipped a bit\r\n")
	key, err := s.Put(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(srv.Dir, opts.Bucket, string(key))
	bad := bytes.Clone(data)
	bad[10] ^= 1
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), key)
	var corrupt *blob.CorruptError
	if !errors.As(err, &corrupt) || got != nil {
		t.Fatalf("Get of a damaged object = %d bytes, %v; want a *blob.CorruptError", len(got), err)
	}
	if _, err := s.Put(t.Context(), data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after repair = %q, %v", got, err)
	}
}

// TestUnreachable points the store at a port where nothing listens: Open
// fails with an error naming the bucket, within the timeout.
func TestUnreachable(t *testing.T) {
	srv := s3test.Start(t)
	opts := srv.Options(t)
	opts.Endpoint = "http://127.0.0.1:1"
	opts.Timeout = 2 * time.Second
	start := time.Now()
	if _, err := blobs3.Open(t.Context(), opts); err == nil {
		t.Fatal("Open of an unreachable endpoint succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v, past its 2s timeout", d)
	}
}

func TestWrongCredentials(t *testing.T) {
	srv := s3test.Start(t)
	opts := srv.Options(t)
	opts.SecretKey = "not the secret"
	if _, err := blobs3.Open(t.Context(), opts); err == nil {
		t.Fatal("Open with a wrong secret key succeeded")
	}
}

func TestOptions(t *testing.T) {
	for _, opts := range []blobs3.Options{
		{},
		{Bucket: "b", AccessKey: "only the access key"},
		{Bucket: "b", PartSize: 1 << 20},
	} {
		if _, err := blobs3.New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}
