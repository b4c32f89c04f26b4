package sieve

// Requires reports whether the script requires the extension ext (RFC
// 5228 section 3.2).
func (s *Script) Requires(ext string) bool { return s.requires[ext] }

// VacationText returns the subject and reason of the script's first
// vacation action (RFC 5230), as written, for showing what a script
// answers elsewhere (the JMAP VacationResponse). ok is false when the
// script takes none.
func (s *Script) VacationText() (subject, reason string, ok bool) {
	var walk func([]*node) bool
	walk = func(block []*node) bool {
		for _, n := range block {
			if n.name == "vacation" {
				if a, has := n.tags["subject"]; has {
					subject = a.strs[0]
				}
				reason = n.args[0].strs[0]
				return true
			}
			if walk(n.block) {
				return true
			}
		}
		return false
	}
	ok = walk(s.cmds)
	return subject, reason, ok
}
