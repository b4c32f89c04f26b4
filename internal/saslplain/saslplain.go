// Package saslplain reads a client's SASL PLAIN response (RFC 4616) for
// the servers that parse AUTHENTICATE themselves: POP3 and ManageSieve.
package saslplain

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
)

// ErrBase64 is returned for a response that is not base64.
var ErrBase64 = errors.New("saslplain: invalid base64")

// Credentials decodes resp, the base64 PLAIN response, into the login and
// the password. An authorization identity other than the login is refused
// as malformed: acting for another user is not offered.
func Credentials(resp string) (user, pass string, err error) {
	data, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", "", ErrBase64
	}
	srv := sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errors.New("authorization identity differs")
		}
		user, pass = username, password
		return nil
	})
	if _, _, err := srv.Next(data); err != nil {
		return "", "", fmt.Errorf("saslplain: %w", err)
	}
	return user, pass, nil
}
