package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// An entry file is one header line, the envelope as JSON, and the message:
//
//	CSPOOL1 <envelope length> <message length> <hex SHA-256 of envelope and message>\n
//	<envelope JSON><message bytes>
//
// The lengths let the loop read an envelope without the message, and the
// checksum catches a damaged or truncated file before it is delivered.
const magic = "CSPOOL1"

// Limits on what an entry file may declare; anything beyond is corrupt.
const (
	maxHeaderLine   = 128
	maxEnvelopeSize = 4 << 20
	maxRecipients   = 100000
)

// errCorrupt marks an entry file that does not parse or fails its checksum.
var errCorrupt = errors.New("corrupt spool entry")

// encodeHead returns the start of an entry file, its header line and the
// envelope; data, the message, follows it. They stay apart so that the
// message need not be copied behind them.
func encodeHead(env Envelope, data []byte) ([]byte, error) {
	js, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	h := sha256.New()
	h.Write(js)
	h.Write(data)
	head := fmt.Appendf(nil, "%s %d %d %x\n", magic, len(js), len(data), h.Sum(nil))
	return append(head, js...), nil
}

// header is the parsed first line of an entry file.
type header struct {
	size    int   // of the line, with its newline
	envLen  int   // of the envelope JSON
	dataLen int64 // of the message
	sum     []byte
}

// parseHeader parses the header line at the start of b, which holds at
// least the first maxHeaderLine bytes of the file or all of it.
func parseHeader(b []byte) (header, error) {
	nl := bytes.IndexByte(b[:min(len(b), maxHeaderLine)], '\n')
	if nl < 0 {
		return header{}, fmt.Errorf("%w: no header line", errCorrupt)
	}
	f := bytes.Split(b[:nl], []byte(" "))
	if len(f) != 4 || string(f[0]) != magic {
		return header{}, fmt.Errorf("%w: bad header line", errCorrupt)
	}
	envLen, err1 := strconv.ParseInt(string(f[1]), 10, 32)
	dataLen, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	sum, err3 := hex.DecodeString(string(f[3]))
	if err1 != nil || err2 != nil || err3 != nil || envLen < 2 || envLen > maxEnvelopeSize || dataLen < 0 || len(sum) != sha256.Size {
		return header{}, fmt.Errorf("%w: bad header fields", errCorrupt)
	}
	return header{size: nl + 1, envLen: int(envLen), dataLen: dataLen, sum: sum}, nil
}

// parseEnvelope decodes and checks an envelope.
func parseEnvelope(js []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(js, &env); err != nil {
		return Envelope{}, fmt.Errorf("%w: envelope: %v", errCorrupt, err)
	}
	if err := checkEnvelope(env); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	// Results are kept in the state file; the entry file's are ignored.
	for i := range env.Recipients {
		env.Recipients[i].Done, env.Recipients[i].Failed, env.Recipients[i].Warned = false, "", false
	}
	return env, nil
}

// checkEnvelope reports what makes env unfit for the spool.
func checkEnvelope(env Envelope) error {
	if len(env.Recipients) == 0 {
		return errors.New("envelope has no recipients")
	}
	if len(env.Recipients) > maxRecipients {
		return fmt.Errorf("envelope has %d recipients, more than %d", len(env.Recipients), maxRecipients)
	}
	for _, r := range env.Recipients {
		if r.Account < 0 {
			return fmt.Errorf("recipient %q has negative account %d", r.Address, r.Account)
		}
	}
	return nil
}

// decodeEntry parses a whole entry file and verifies its checksum.
func decodeEntry(b []byte) (Envelope, []byte, error) {
	h, err := parseHeader(b)
	if err != nil {
		return Envelope{}, nil, err
	}
	rest := b[h.size:]
	if int64(len(rest)) != int64(h.envLen)+h.dataLen {
		return Envelope{}, nil, fmt.Errorf("%w: file has %d bytes after the header, header says %d", errCorrupt, len(rest), int64(h.envLen)+h.dataLen)
	}
	if sum := sha256.Sum256(rest); !bytes.Equal(sum[:], h.sum) {
		return Envelope{}, nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	env, err := parseEnvelope(rest[:h.envLen])
	if err != nil {
		return Envelope{}, nil, err
	}
	return env, rest[h.envLen:], nil
}

// readEnvelope reads the header and envelope of an entry file without the
// message. The checksum is verified only when the whole file is read.
func readEnvelope(r io.Reader) (Envelope, header, error) {
	buf := make([]byte, maxHeaderLine)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		if errors.Is(err, io.EOF) {
			return Envelope{}, header{}, fmt.Errorf("%w: empty file", errCorrupt)
		}
		return Envelope{}, header{}, err
	}
	buf = buf[:n]
	h, err := parseHeader(buf)
	if err != nil {
		return Envelope{}, header{}, err
	}
	js := make([]byte, h.envLen)
	have := copy(js, buf[h.size:])
	if _, err := io.ReadFull(r, js[have:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Envelope{}, header{}, fmt.Errorf("%w: truncated envelope", errCorrupt)
		}
		return Envelope{}, header{}, err
	}
	env, err := parseEnvelope(js)
	return env, h, err
}

// state is the content of a side file.
type state struct {
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	Done        []bool    `json:"done,omitempty"`
	Failed      []string  `json:"failed,omitempty"`
	Warned      []bool    `json:"warned,omitempty"`
}

// stateOf extracts e's retry state.
func stateOf(e *Entry) state {
	s := state{Attempts: e.Attempts, NextAttempt: e.NextAttempt, LastError: e.LastError}
	for i, r := range e.Envelope.Recipients {
		if r.Done {
			s.Done = growBools(s.Done, i+1)
			s.Done[i] = true
		}
		if r.Failed != "" {
			s.Failed = growStrings(s.Failed, i+1)
			s.Failed[i] = r.Failed
		}
		if r.Warned {
			s.Warned = growBools(s.Warned, i+1)
			s.Warned[i] = true
		}
	}
	return s
}

func growBools(b []bool, n int) []bool {
	for len(b) < n {
		b = append(b, false)
	}
	return b
}

func growStrings(s []string, n int) []string {
	for len(s) < n {
		s = append(s, "")
	}
	return s
}

// decodeState parses a side file and applies it to e. A side file that
// does not fit e is an error and leaves e unchanged.
func decodeState(b []byte, e *Entry) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	n := len(e.Envelope.Recipients)
	if s.Attempts < 0 || len(s.Done) > n || len(s.Failed) > n || len(s.Warned) > n {
		return errors.New("state does not match the entry")
	}
	e.Attempts, e.NextAttempt, e.LastError = s.Attempts, s.NextAttempt, s.LastError
	for i, d := range s.Done {
		e.Envelope.Recipients[i].Done = d
	}
	for i, f := range s.Failed {
		e.Envelope.Recipients[i].Failed = f
	}
	for i, w := range s.Warned {
		e.Envelope.Recipients[i].Warned = w
	}
	return nil
}
