package request

// MaxNameWords bounds the words NameWords splits a name into.
const MaxNameWords = 8

// NameWords splits a name (a body field's, a cookie's) into its words,
// as substrings of name (it allocates nothing): at '_', '-', '.' and ' ' (snake, kebab and
// dotted case), and at camelCase boundaries: a lower-case letter or
// digit then an upper-case one (giftCard), and the last of a run of
// upper-case letters before a lower-case one (OTPCode: OTP, Code). It
// fills out with at most MaxNameWords words (further ones are dropped)
// and returns how many.
func NameWords(name string, out *[MaxNameWords]string) int {
	n, start := 0, -1
	emit := func(end int) {
		if start >= 0 && end > start && n < len(out) {
			out[n] = name[start:end]
			n++
		}
		start = -1
	}
	isUpper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	isLower := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			emit(i)
			continue
		case start >= 0 && isUpper(c) && isLower(name[i-1]):
			emit(i) // giftCard
		case start >= 0 && isUpper(c) && i > start && isUpper(name[i-1]) && i+1 < len(name) && 'a' <= name[i+1] && name[i+1] <= 'z':
			emit(i) // OTPCode
		}
		if start < 0 {
			start = i
		}
	}
	emit(len(name))
	return n
}
