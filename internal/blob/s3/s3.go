// Package s3 implements blob.Store on an S3-compatible object store
// (Amazon S3, or any server that speaks its API: MinIO, Ceph RGW,
// versitygw, ...), one object per blob, named by its key.
//
// Implementation notes:
//   - Durability (DESIGN.md invariant 1): Put returns nil only after the
//     object store acknowledged the whole object. Small blobs go in one
//     PutObject carrying the SHA-256 of the content (x-amz-checksum-sha256),
//     so the server itself refuses bytes damaged on the way; large ones go
//     in a multipart upload with a SHA-256 checksum per part.
//   - Every Get verifies the SHA-256 of what it read against the key and
//     returns a *blob.CorruptError, never the bytes, on a mismatch.
//   - Put of content that already exists uploads it again: that refreshes
//     its modification time (which garbage collection counts from) and
//     rewrites a damaged copy in the same step, so repairs need no other
//     call. An object store cannot touch an object's time without a write.
//   - Objects whose names are not valid keys (other tenants of a shared
//     bucket, a prefix's own marker) are never returned by Walk, and no
//     request is ever made with an invalid key.
//   - Each call runs under Options.Timeout, retried by the SDK's standard
//     retryer; a canceled context is reported as the context's error, not
//     as whatever the SDK made of it.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"casella/internal/blob"
)

// Defaults of Options.
const (
	DefaultRegion      = "us-east-1"
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 3
	// DefaultPartSize is the size above which a blob is uploaded in
	// parts, and the size of each part. S3 wants parts of at least 5 MiB.
	DefaultPartSize = 8 << 20
)

// Options say where the bucket is and how to reach it.
type Options struct {
	Endpoint  string // base URL, like "https://s3.example.net"; "" for Amazon S3
	Bucket    string
	Region    string // default DefaultRegion
	AccessKey string // with SecretKey; both empty for anonymous access
	SecretKey string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key. Most self-hosted servers want path style.
	PathStyle bool
	// Timeout bounds one call, retries included; default DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts is how many times a failed request is tried, the first
	// included; default DefaultMaxAttempts.
	MaxAttempts int
	// PartSize is the multipart threshold and part size; default
	// DefaultPartSize.
	PartSize int64
	// HTTPClient replaces the SDK's HTTP client, for example to trust a
	// private CA.
	HTTPClient *http.Client
}

// Store is a blob.Store in an S3 bucket. It is safe for concurrent use.
type Store struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	timeout  time.Duration
	partSize int64
}

var _ blob.Store = (*Store)(nil)

// Open returns a Store over the bucket described by opts and checks that
// the bucket can be reached, so that a wrong endpoint, bucket or key fails
// at start and not at the first delivery.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return nil, fmt.Errorf("open S3 blob store: bucket %q cannot be reached: %w", s.bucket, err)
	}
	return s, nil
}

// New returns a Store over the bucket described by opts without contacting
// the server.
func New(opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("open S3 blob store: no bucket given")
	}
	if (opts.AccessKey == "") != (opts.SecretKey == "") {
		return nil, errors.New("open S3 blob store: access key and secret key go together; give both or neither")
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.PartSize <= 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.PartSize < manager.MinUploadPartSize {
		return nil, fmt.Errorf("open S3 blob store: part size %d is below S3's minimum of %d bytes", opts.PartSize, manager.MinUploadPartSize)
	}
	cfg := aws.Config{
		Region: opts.Region,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = opts.MaxAttempts })
		},
		// Casella computes and checks SHA-256 itself; the SDK's default
		// CRC checksums are not understood by every S3-compatible server.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if opts.AccessKey != "" {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, "")
	} else {
		cfg.Credentials = aws.AnonymousCredentials{}
	}
	if opts.HTTPClient != nil {
		cfg.HTTPClient = opts.HTTPClient
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
	})
	return &Store{
		client:   client,
		uploader: manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = opts.PartSize }),
		bucket:   opts.Bucket,
		timeout:  opts.Timeout,
		partSize: opts.PartSize,
	}, nil
}

// call runs one store call under the timeout and turns errors into the
// blob package's: a canceled or expired caller context as its error, a
// missing object as blob.ErrNotFound.
func (s *Store) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := fn(cctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case isNotFound(err):
		return fmt.Errorf("%s: %w", what, blob.ErrNotFound)
	case cctx.Err() != nil:
		return fmt.Errorf("%s: no answer from the S3 server within %v: %w", what, s.timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// Put stores data as the object named by its key.
func (s *Store) Put(ctx context.Context, data []byte) (blob.Key, error) {
	sum := sha256.Sum256(data)
	key := blob.Key(hex.EncodeToString(sum[:]))
	err := s.call(ctx, "put blob "+string(key), func(ctx context.Context) error {
		in := &s3.PutObjectInput{
			Bucket:        &s.bucket,
			Key:           aws.String(string(key)),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
			ContentType:   aws.String("application/octet-stream"),
		}
		if int64(len(data)) <= s.partSize {
			in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
			_, err := s.client.PutObject(ctx, in)
			return err
		}
		in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
		_, err := s.uploader.Upload(ctx, in)
		return err
	})
	if err != nil {
		return "", err
	}
	return key, nil
}

// Get reads the object and verifies it against key.
func (s *Store) Get(ctx context.Context, key blob.Key) ([]byte, error) {
	what := "get blob " + string(key)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !key.Valid() {
		return nil, fmt.Errorf("%s: %w", what, blob.ErrNotFound)
	}
	var data []byte
	err := s.call(ctx, what, func(ctx context.Context) error {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(string(key))})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		data, err = io.ReadAll(out.Body)
		if err != nil {
			return fmt.Errorf("read object: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := blob.Verify(key, data); err != nil {
		return nil, err
	}
	return data, nil
}

// Stat returns the object's size and last modification time.
func (s *Store) Stat(ctx context.Context, key blob.Key) (blob.Info, error) {
	what := "stat blob " + string(key)
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("%s: %w", what, err)
	}
	if !key.Valid() {
		return blob.Info{}, fmt.Errorf("%s: %w", what, blob.ErrNotFound)
	}
	var info blob.Info
	err := s.call(ctx, what, func(ctx context.Context) error {
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(string(key))})
		if err != nil {
			return err
		}
		info = blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}
		return nil
	})
	return info, err
}

// Delete removes the object.
func (s *Store) Delete(ctx context.Context, key blob.Key) error {
	what := "delete blob " + string(key)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !key.Valid() {
		return nil
	}
	err := s.call(ctx, what, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(string(key))})
		return err
	})
	if errors.Is(err, blob.ErrNotFound) {
		return nil
	}
	return err
}

// Walk lists the bucket in key order from after, one page of up to 1000
// objects per request, each page under its own timeout.
func (s *Store) Walk(ctx context.Context, after blob.Key, fn func(blob.Info) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket}
	if after != "" {
		in.StartAfter = aws.String(string(after))
	}
	for {
		var page *s3.ListObjectsV2Output
		err := s.call(ctx, "walk blobs", func(ctx context.Context) error {
			var err error
			page, err = s.client.ListObjectsV2(ctx, in)
			return err
		})
		if err != nil {
			return err
		}
		for _, obj := range page.Contents {
			key := blob.Key(aws.ToString(obj.Key))
			if !key.Valid() || key <= after {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			if err := fn(blob.Info{Key: key, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)}); err != nil {
				return err
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = page.NextContinuationToken
	}
}
