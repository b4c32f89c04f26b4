package inflate

import "fmt"

const maxBits = 15

// huffman is a canonical Huffman code (RFC 1951 section 3.2.2): how many
// codes have each length, and the symbols in code order.
type huffman struct {
	count  [maxBits + 1]uint16
	symbol []uint16
}

// newHuffman builds the code whose symbol i has code length lens[i] (0:
// unused). An over-subscribed set of lengths is corrupt; an incomplete one
// is allowed, as RFC 1951 permits a single distance code.
func newHuffman(lens []uint8) (*huffman, error) {
	h := &huffman{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l <= maxBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return nil, fmt.Errorf("%w: over-subscribed Huffman code", ErrCorrupt)
		}
	}
	var offs [maxBits + 2]uint16
	for l := 1; l <= maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbol = make([]uint16, offs[maxBits+1])
	for sym, l := range lens {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	return h, nil
}

// The fixed codes of section 3.2.6.
var fixedLit, fixedDist = func() (*huffman, *huffman) {
	lens := make([]uint8, 288)
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	lit, _ := newHuffman(lens)
	d := make([]uint8, 30)
	for i := range d {
		d[i] = 5
	}
	dist, _ := newHuffman(d)
	return lit, dist
}()
