package protocol

// ValidRegion reports whether s can name a region: 1 to 32 bytes, a lower-case
// ASCII letter first, then lower-case letters, digits and '-' (docs/protocol.md,
// "Region names"). A region name is a label in a Kafka topic name (MirrorMaker
// 2 prefixes mirrored topics with it) and in metrics, so it stays short and
// plain.
func ValidRegion(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
