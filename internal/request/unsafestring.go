package request

import "unsafe"

// unsafeString returns b's bytes as a string without copying; b must not
// change while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
