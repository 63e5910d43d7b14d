package finding

// Wildcard matches s against pat, where * is any run of bytes (slashes
// included, unlike path.Match) and ? any one byte. Suppressions and response
// policies use it.
func Wildcard(pat, s string) bool {
	px, sx := 0, 0
	nextP, nextS := -1, -1
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				nextP, nextS = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextS > 0 && nextS <= len(s) {
			px, sx = nextP, nextS
			continue
		}
		return false
	}
	return true
}
