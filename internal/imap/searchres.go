package imap

import "slices"

// The saved search result of SEARCHRES (RFC 5182) is kept as UIDs, so that
// it follows the messages as sequence numbers shift; an expunged message
// leaves it (section 2.1) because "$" resolves only to UIDs in the view.
// A new SELECT, EXAMINE, CLOSE or UNSELECT starts an empty result with the
// new view.

// isSaved reports whether uid is in the saved search result.
func (v *view) isSaved(uid uint32) bool {
	_, ok := slices.BinarySearch(v.saved, uid)
	return ok
}

// saveResult keeps the result of SEARCH RETURN (SAVE). Combined with MIN
// or MAX, only those are saved (RFC 5182 section 2.1).
func (v *view) saveResult(ret *searchReturn, uids []uint32) {
	switch {
	case len(uids) == 0 || ret.count || ret.list || !ret.min && !ret.max:
		v.saved = uids
	case ret.min && ret.max:
		v.saved = slices.Compact([]uint32{uids[0], uids[len(uids)-1]})
	case ret.min:
		v.saved = uids[:1]
	default:
		v.saved = uids[len(uids)-1:]
	}
}
