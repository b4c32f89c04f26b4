package drill

import "fmt"

// Outcome is what the server answered to one message of the load.
type Outcome uint8

// Outcomes.
const (
	NotSent     Outcome = iota // the load ended before this message
	Accepted                   // 250: the server owns it now
	Deferred                   // 4xx: the sender keeps it and tries later
	Rejected                   // 5xx: refused for good
	Interrupted                // the connection broke before a reply: the server may or may not have it
)

// Sent is what the load remembers of one message.
type Sent struct {
	Sum     Sum
	Outcome Outcome
}

// Found is a drill message read back from the mailbox.
type Found struct {
	Index int // from its Message-ID
	Sum   Sum // of the bytes behind the trace headers
}

// Counts are the verified results of a drill.
type Counts struct {
	Sent        int `json:"sent"`        // messages the load tried
	Accepted    int `json:"accepted"`    // answered 250
	Deferred    int `json:"deferred"`    // answered 4xx
	Rejected    int `json:"rejected"`    // answered 5xx; must be 0
	Interrupted int `json:"interrupted"` // connection lost before a reply
	Delivered   int `json:"delivered"`   // sent messages found in the mailbox
	Duplicated  int `json:"duplicated"`  // copies beyond the first; must be 0
	Missing     int `json:"missing"`     // accepted but not found; must be 0
	Mismatched  int `json:"mismatched"`  // found with other bytes than sent; must be 0
	Unexpected  int `json:"unexpected"`  // found though refused or never sent; must be 0
}

// Tally compares what the load sent with what the mailbox holds. A message
// whose connection broke before the reply may be delivered or not, but at
// most once; every accepted message must be there exactly once with its
// bytes intact; a refused message must not be there at all, since its
// sender will send it again.
func Tally(sent []Sent, found []Found) Counts {
	var c Counts
	for _, s := range sent {
		switch s.Outcome {
		case NotSent:
			continue
		case Accepted:
			c.Accepted++
		case Deferred:
			c.Deferred++
		case Rejected:
			c.Rejected++
		case Interrupted:
			c.Interrupted++
		}
		c.Sent++
	}
	copies := make([]int, len(sent))
	for _, f := range found {
		if f.Index < 0 || f.Index >= len(sent) {
			c.Unexpected++
			continue
		}
		s := sent[f.Index]
		switch s.Outcome {
		case Accepted, Interrupted:
		default:
			c.Unexpected++
			continue
		}
		if f.Sum != s.Sum {
			c.Mismatched++
		}
		copies[f.Index]++
	}
	for i, n := range copies {
		if n > 0 {
			c.Delivered++
			c.Duplicated += n - 1
		} else if sent[i].Outcome == Accepted {
			c.Missing++
		}
	}
	return c
}

// Problems lists, in words, every way in which the counts break Casella's
// promise; none means the drill passed.
func (c Counts) Problems() []string {
	var p []string
	add := func(n int, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.Rejected, "rejected with 5xx")
	add(c.Missing, "accepted but missing")
	add(c.Duplicated, "delivered more than once")
	add(c.Mismatched, "delivered with other bytes than sent")
	add(c.Unexpected, "delivered though refused or never sent")
	return p
}
