package delivery

// Trace returns data as delivered to rcpt: preceded by Return-Path, which
// records the reverse path at final delivery (RFC 5321 section 4.4), and by
// Delivered-To, which, as in Postfix, names the recipient so that a loop
// through forwarding can be recognized. The null reverse path gives
// "Return-Path: <>".
func Trace(from, rcpt string, data []byte) []byte {
	b := make([]byte, 0, len("Return-Path: <>\r\nDelivered-To: \r\n")+len(from)+len(rcpt)+len(data))
	b = append(b, "Return-Path: <"...)
	b = appendClean(b, from)
	b = append(b, ">\r\nDelivered-To: "...)
	b = appendClean(b, rcpt)
	b = append(b, "\r\n"...)
	return append(b, data...)
}

// appendClean appends s with control characters and angle brackets
// replaced by '?'. Intake never accepts such addresses; should one reach
// here anyway, it cannot break the header or inject a field.
func appendClean(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '<' || c == '>' {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}
