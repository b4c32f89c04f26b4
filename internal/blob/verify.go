package blob

// Verify checks data against key, the way every reader must before handing
// bytes on. It returns nil when data hashes to key and a *CorruptError
// otherwise, so a caller can return its result as is.
func Verify(key Key, data []byte) error {
	if got := KeyOf(data); got != key {
		return &CorruptError{Key: key, Got: got, Size: int64(len(data))}
	}
	return nil
}
