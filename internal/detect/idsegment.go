package detect

// LooksLikeID reports whether a path segment is an identifier rather than
// a word of the API's vocabulary (all digits, a UUID, long hex, a slug or
// token with a digit): the one rule by which the detectors' zero-config
// templates and route learning (internal/routelearn) turn segments into
// {id}.
func LooksLikeID(seg string) bool { return looksLikeID(seg) }
