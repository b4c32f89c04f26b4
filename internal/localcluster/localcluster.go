// Package localcluster starts a Casella cluster on loopback for a
// newcomer to try ("casella cluster local"): a PostgreSQL server of the
// machine's (package pgserver) for each cell, holding its database, the
// last cell's also the directory's; an S3 server (versitygw) holding one bucket per cell, two cells,
// and nodes (two unless asked otherwise), each a "casella serve" child
// process with its own data directory. Everything lives under one directory and listens on free
// loopback ports only.
//
// Implementation notes:
//   - Real components only, the same that production uses: the point is
//     to see cells, nodes and their failures for real.
//   - Each cell has a PostgreSQL server of its own, as in production, so
//     that stopping one (casella drill --cluster stops cell a's) shows
//     the blast radius of a failed database: one cell, not all.
//   - Stop undoes Start in reverse order: the nodes first (SIGTERM, so
//     they finish their sessions and keep their spools), then the S3
//     server, then PostgreSQL.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "casella/internal/blob/s3"
	"casella/internal/blob/s3/versitygw"
	"casella/internal/drill"
	"casella/internal/pgserver"
)

// Cells are the cells of the local cluster.
var Cells = []string{"a", "b"}

// Domain is the demo domain; each cell gets one demo account in it.
const Domain = "example.test"

// InstallVersitygw is the command that installs the S3 server.
const InstallVersitygw = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3 credentials of the local server; loopback only, so fixed ones do.
const (
	accessKey = "casella"
	secretKey = "casella-local-secret"
)

// Account is a demo account.
type Account struct {
	Address, Password, Cell string
}

// Cluster is a running local cluster.
type Cluster struct {
	Dir      string
	PG       map[string]*pgserver.Server // by cell; the last cell's also holds the directory
	S3       string                      // the S3 server's base URL
	Nodes    []*drill.Local
	Accounts []Account

	s3cmd    *exec.Cmd
	s3exited chan struct{}
}

// Start starts a cluster of nodes nodes under dir with the casella binary
// exe, writing what it does to log. On failure it stops what it started.
func Start(ctx context.Context, exe, dir string, nodes int, log io.Writer) (_ *Cluster, err error) {
	if nodes < 1 {
		return nil, fmt.Errorf("a cluster needs at least one node, not %d", nodes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// As root, PostgreSQL runs as user postgres, from dir: a directory of
	// os.MkdirTemp (mode 0700) would shut it out.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, PG: map[string]*pgserver.Server{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for _, cell := range Cells {
		pgDir := filepath.Join(dir, "postgres-"+cell)
		fmt.Fprintf(log, "starting cell %s's PostgreSQL under %s\n", cell, pgDir)
		pg, err := pgserver.Launch(pgserver.Options{Dir: pgDir, Durable: true})
		if err != nil {
			if errors.Is(err, pgserver.ErrNoServer) {
				return nil, fmt.Errorf("%w; install it: %s", err, pgserver.Install)
			}
			return nil, fmt.Errorf("starting cell %s's PostgreSQL: %w; when running as root, %s must be reachable by user postgres", cell, err, dir)
		}
		c.PG[cell] = pg
	}
	fmt.Fprintf(log, "starting versitygw under %s\n", filepath.Join(dir, "s3"))
	if err := c.startS3(filepath.Join(dir, "s3")); err != nil {
		return nil, err
	}
	config, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	for i := range nodes {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			return nil, err
		}
		n, err := drill.NewLocal(exe, nodeDir, 50)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(n.Config, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(config)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("writing node %d's configuration: %w", i+1, err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.demo(ctx); err != nil {
		return nil, err
	}
	for i, n := range c.Nodes {
		fmt.Fprintf(log, "starting node %d\n", i+1)
		if err := n.Start(ctx); err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
	}
	return c, nil
}

// CellConfig returns the [[cell]] section of a cell whose messages are in
// the PostgreSQL database dsn and whose blobs are in an S3 bucket reached
// by path-style URLs. It ends inside [cell.blob.s3], so that a caller may
// add more of its keys.
func CellConfig(name, dsn, endpoint, bucket, accessKey, secretKey string) string {
	return fmt.Sprintf(`
[[cell]]
name = %q
store = %q
[cell.blob]
backend = "s3"
[cell.blob.s3]
endpoint = %q
bucket = %q
path_style = true
access_key = %q
secret_key = %q
`, name, dsn, endpoint, bucket, accessKey, secretKey)
}

// config returns the cluster sections every node's configuration gets:
// the directory and the cells, each on a database and a bucket of its
// own.
func (c *Cluster) config(ctx context.Context) (string, error) {
	dirDSN, err := c.PG[Cells[len(Cells)-1]].NewDB(ctx)
	if err != nil {
		return "", fmt.Errorf("creating the directory's database: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n[directory]\nstore = %q\n", dirDSN)
	for _, name := range Cells {
		dsn, err := c.PG[name].NewDB(ctx)
		if err != nil {
			return "", fmt.Errorf("creating the database of cell %s: %w", name, err)
		}
		bucket := "casella-cell-" + name
		if err := c.bucket(ctx, bucket); err != nil {
			return "", err
		}
		b.WriteString(CellConfig(name, dsn, c.S3, bucket, accessKey, secretKey))
	}
	return b.String(), nil
}

// demo adds the demo domain and one account in each cell, with the first
// node's configuration: the directory is shared.
func (c *Cluster) demo(ctx context.Context) error {
	n := c.Nodes[0]
	if err := n.Casella(ctx, "domain", "add", Domain); err != nil {
		return err
	}
	for _, cell := range Cells {
		a := Account{Address: "demo-" + cell + "@" + Domain, Password: "demo-" + cell + "-password", Cell: cell}
		if err := n.Casella(ctx, "account", "add", "--cell", cell, "--password", a.Password, a.Address); err != nil {
			return err
		}
		c.Accounts = append(c.Accounts, a)
	}
	return nil
}

// startS3 starts versitygw with its POSIX backend in dir.
func (c *Cluster) startS3(dir string) error {
	bin := versitygw.Path()
	if bin == "" {
		return fmt.Errorf("versitygw is not installed (neither on PATH nor in $(go env GOPATH)/bin); install it: %s", InstallVersitygw)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.OpenFile(filepath.Join(c.Dir, "versitygw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", dir)
	// Keys go through the environment, not argv, as an operator would
	// pass them.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+accessKey, "ROOT_SECRET_KEY="+secretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting versitygw: %w", err)
	}
	c.s3cmd, c.s3exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(c.s3exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			conn.Close()
			c.S3 = "http://" + addr
			return nil
		}
		select {
		case <-c.s3exited:
			return fmt.Errorf("versitygw exited at start; see %s", filepath.Join(c.Dir, "versitygw.log"))
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("versitygw did not listen within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bucket creates a bucket on the S3 server.
func (c *Cluster) bucket(ctx context.Context, name string) error {
	client := s3.New(s3.Options{
		Region:       blobs3.DefaultRegion,
		BaseEndpoint: aws.String(c.S3),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		return fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return nil
}

// StopS3 kills the S3 server, as a crash would.
func (c *Cluster) StopS3() {
	if c.s3cmd != nil {
		c.s3cmd.Process.Kill()
		<-c.s3exited
		c.s3cmd = nil
	}
}

// Stop stops the nodes, the S3 server and PostgreSQL.
func (c *Cluster) Stop() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Stop())
	}
	c.StopS3()
	for _, pg := range c.PG {
		errs = append(errs, pg.Stop("fast"))
	}
	return errors.Join(errs...)
}
