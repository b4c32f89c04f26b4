// Package versitygw finds the binary of the versitygw S3 server, which the
// S3 tests and the local cluster run as their object store.
package versitygw

import "casella/internal/gobin"

// Path returns the versitygw binary: on PATH, then where go install puts
// it. It returns "" when there is none.
func Path() string {
	return gobin.Path("versitygw")
}
