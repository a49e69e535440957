package protocol

// MaxRegionLen is the longest region name, in bytes.
const MaxRegionLen = 32

// ValidRegion reports whether s is a region name: a lowercase letter, then up
// to 31 lowercase letters, digits or '-' ([a-z][a-z0-9-]{0,31};
// docs/protocol.md, "Region names"). A region name starts the names of the
// Kafka topics mirrored from its region (<region>.herald.status), so it holds
// no '.', which separates it from the topic, and no capital, which Kafka tools
// and MirrorMaker 2's aliases would keep apart from its lowercase twin.
func ValidRegion(s string) bool {
	if len(s) == 0 || len(s) > MaxRegionLen || s[0] < 'a' || s[0] > 'z' {
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
