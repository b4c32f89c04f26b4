// Package inflate decompresses a raw DEFLATE stream (RFC 1951) that a peer
// sends in pieces, returning each piece as soon as its bytes have arrived.
//
// compress/flate's reader returns decoded bytes only at the end of a
// stored block, when its window fills, or at the end of the stream. IMAP
// COMPRESS=DEFLATE clients (RFC 4978) built on zlib often end each command
// with Z_PARTIAL_FLUSH, which emits no stored block: with compress/flate
// the server would wait for input the client never sends (mbsync does this).
// This reader returns what it has decoded whenever the next symbol would
// need input that has not arrived yet.
package inflate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is returned for input that is not valid DEFLATE.
var ErrCorrupt = errors.New("inflate: corrupt input")

const windowSize = 32 << 10 // RFC 1951 section 2: distances reach back 32 KiB

// Reader decompresses a raw DEFLATE stream.
type Reader struct {
	in *bufio.Reader

	bits  uint32 // bit buffer, least significant bit first
	nbits uint

	// hist holds the bytes decoded so far until there are windowSize of
	// them, then the last windowSize as a ring written at wpos. Growing it
	// keeps a session that has sent little small: an IMAP session idles
	// for hours after a few short commands.
	hist []byte
	ring bool
	wpos int

	out []byte // decoded, not yet returned

	state     int // what the next step decodes
	final     bool
	stored    int // bytes left in a stored block
	lit, dist *huffman
	copyLen   int // bytes left of a back-reference being copied
	copyDist  int
	err       error
}

const (
	stateHeader = iota
	stateStored
	stateCodes
	stateCopy
	stateDone
)

// NewReader returns a Reader of the DEFLATE stream in r.
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &Reader{in: br}
}

// Read returns decoded bytes. It blocks only when it has none to return.
func (z *Reader) Read(p []byte) (int, error) {
	for len(z.out) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		z.step()
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	if len(z.out) == 0 && cap(z.out) > 4096 {
		z.out = nil // a large command's buffer is not kept while idle
	}
	return n, nil
}

// step decodes until it has output to return and the next symbol might
// block, or an error.
func (z *Reader) step() {
	z.out = z.out[:0]
	for z.err == nil {
		written := len(z.out)
		if written >= windowSize/2 {
			return // hand over long runs in pieces; out is not kept while idle
		}
		if written > 0 && z.in.Buffered() == 0 && z.nbits < 24 {
			return // the next symbol may need input that has not come
		}
		switch z.state {
		case stateDone:
			z.err = io.EOF
		case stateHeader:
			z.header()
		case stateStored:
			b, err := z.in.ReadByte()
			if err != nil {
				z.err = noEOF(err)
				return
			}
			z.emit(b)
			if z.stored--; z.stored == 0 {
				z.endBlock()
			}
		case stateCopy:
			z.emit(z.back(z.copyDist))
			if z.copyLen--; z.copyLen == 0 {
				z.state = stateCodes
			}
		case stateCodes:
			sym, ok := z.decode(z.lit)
			if !ok {
				return
			}
			switch {
			case sym < 256:
				z.emit(byte(sym))
			case sym == 256:
				z.endBlock()
			default:
				z.backRef(sym)
			}
		}
	}
}

// emit outputs a decoded byte and keeps it in the history.
func (z *Reader) emit(b byte) {
	z.out = append(z.out, b)
	if !z.ring {
		z.hist = append(z.hist, b)
		z.ring = len(z.hist) == windowSize
		return
	}
	z.hist[z.wpos] = b
	z.wpos = (z.wpos + 1) % windowSize
}

// back returns the byte decoded dist bytes ago.
func (z *Reader) back(dist int) byte {
	if !z.ring {
		return z.hist[len(z.hist)-dist]
	}
	return z.hist[(z.wpos-dist+windowSize)%windowSize]
}

func (z *Reader) endBlock() {
	if z.final {
		z.state = stateDone
	} else {
		z.state = stateHeader
	}
}

// need makes at least n bits available.
func (z *Reader) need(n uint) bool {
	for z.nbits < n {
		b, err := z.in.ReadByte()
		if err != nil {
			z.err = noEOF(err)
			return false
		}
		z.bits |= uint32(b) << z.nbits
		z.nbits += 8
	}
	return true
}

// take returns the next n bits (n <= 16).
func (z *Reader) take(n uint) (uint32, bool) {
	if !z.need(n) {
		return 0, false
	}
	v := z.bits & (1<<n - 1)
	z.bits >>= n
	z.nbits -= n
	return v, true
}

// header reads a block header (RFC 1951 section 3.2.3).
func (z *Reader) header() {
	h, ok := z.take(3)
	if !ok {
		return
	}
	z.final = h&1 == 1
	switch h >> 1 {
	case 0: // stored, section 3.2.4
		z.bits, z.nbits = z.bits>>(z.nbits%8), z.nbits-z.nbits%8
		v, ok := z.take(16)
		nv, ok2 := z.take(16)
		if !ok || !ok2 {
			return
		}
		if v != ^nv&0xffff {
			z.err = fmt.Errorf("%w: stored block length %d does not match its complement", ErrCorrupt, v)
			return
		}
		if z.nbits != 0 {
			z.err = fmt.Errorf("%w: stored block not aligned", ErrCorrupt)
			return
		}
		z.stored = int(v)
		if v == 0 {
			z.endBlock()
		} else {
			z.state = stateStored
		}
	case 1: // fixed Huffman codes, section 3.2.6
		z.lit, z.dist = fixedLit, fixedDist
		z.state = stateCodes
	case 2: // dynamic Huffman codes, section 3.2.7
		if z.dynamic() {
			z.state = stateCodes
		}
	default:
		z.err = fmt.Errorf("%w: reserved block type", ErrCorrupt)
	}
}

// codeOrder is the order of the code length code lengths (section 3.2.7).
var codeOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the code tables of a dynamic block.
func (z *Reader) dynamic() bool {
	v, ok := z.take(14)
	if !ok {
		return false
	}
	nlit, ndist, nclen := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlit > 286 || ndist > 30 {
		z.err = fmt.Errorf("%w: %d literal/length or %d distance codes", ErrCorrupt, nlit, ndist)
		return false
	}
	var clens [19]uint8
	for i := range nclen {
		l, ok := z.take(3)
		if !ok {
			return false
		}
		clens[codeOrder[i]] = uint8(l)
	}
	clh, err := newHuffman(clens[:])
	if err != nil {
		z.err = err
		return false
	}
	lens := make([]uint8, nlit+ndist)
	for i := 0; i < len(lens); {
		sym, ok := z.decode(clh)
		if !ok {
			return false
		}
		var rep int
		var val uint8
		switch {
		case sym < 16:
			lens[i] = uint8(sym)
			i++
			continue
		case sym == 16:
			if i == 0 {
				z.err = fmt.Errorf("%w: repeat of no code length", ErrCorrupt)
				return false
			}
			x, ok := z.take(2)
			if !ok {
				return false
			}
			rep, val = 3+int(x), lens[i-1]
		case sym == 17:
			x, ok := z.take(3)
			if !ok {
				return false
			}
			rep = 3 + int(x)
		default:
			x, ok := z.take(7)
			if !ok {
				return false
			}
			rep = 11 + int(x)
		}
		if i+rep > len(lens) {
			z.err = fmt.Errorf("%w: code lengths overrun", ErrCorrupt)
			return false
		}
		for range rep {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 {
		z.err = fmt.Errorf("%w: no end-of-block code", ErrCorrupt)
		return false
	}
	if z.lit, err = newHuffman(lens[:nlit]); err != nil {
		z.err = err
		return false
	}
	if z.dist, err = newHuffman(lens[nlit:]); err != nil {
		z.err = err
		return false
	}
	return true
}

// Length and distance bases and extra bits (section 3.2.5).
var (
	lenBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dstBase  = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	dstExtra = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// backRef reads the rest of a length/distance pair and starts the copy.
func (z *Reader) backRef(sym int) {
	i := sym - 257
	if i >= len(lenBase) {
		z.err = fmt.Errorf("%w: length code %d", ErrCorrupt, sym)
		return
	}
	x, ok := z.take(lenExtra[i])
	if !ok {
		return
	}
	length := lenBase[i] + int(x)
	d, ok := z.decode(z.dist)
	if !ok {
		return
	}
	if d >= len(dstBase) {
		z.err = fmt.Errorf("%w: distance code %d", ErrCorrupt, d)
		return
	}
	y, ok := z.take(dstExtra[d])
	if !ok {
		return
	}
	dist := dstBase[d] + int(y)
	if !z.ring && dist > len(z.hist) {
		z.err = fmt.Errorf("%w: distance %d before the start of the stream", ErrCorrupt, dist)
		return
	}
	z.copyLen, z.copyDist, z.state = length, dist, stateCopy
}

// decode reads one symbol of h.
func (z *Reader) decode(h *huffman) (int, bool) {
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		b, ok := z.take(1)
		if !ok {
			return 0, false
		}
		code |= int(b)
		count := int(h.count[l])
		if code-first < count {
			return int(h.symbol[index+code-first]), true
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	z.err = fmt.Errorf("%w: invalid Huffman code", ErrCorrupt)
	return 0, false
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
