package directory

import "golang.org/x/crypto/acme/autocert"

// CertCaches keeps what the ACME manager (tlsconf.ACME) shares between
// the nodes of a cluster: the account key, the certificates with their
// keys, and the answers to challenges pending, so that whichever node
// the CA's validation reaches can answer it. Directories that keep them
// implement it beside Directory. A missing key is autocert.ErrCacheMiss.
type CertCaches interface {
	CertCache() autocert.Cache
}
