package request

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Inferring the subject of a request no route names a Field for: the
// identifier a sign-in, account lookup or code check is about, found by
// the shape of the body rather than by the API's field names, so the
// distinct-identifier checks (stuffing, code guessing, enumeration) work
// without a routes section.

// maxInferredFields bounds the top-level fields of a body that
// inferredSubject looks at: a sign-in, lookup or code check sends a few.
const maxInferredFields = 8

// inferredSubject returns the identifier a form or JSON object body of a
// few top-level fields is about, or "" when it names none:
//
//   - a string value shaped like an email address or a phone number, the
//     first in the body (a form's fields in name order) whose field is not
//     named like a password;
//   - else the only string value of a body with one;
//   - else, in a body of two string values one of whose fields is named
//     like a password (password, passwd, pass, pwd, secret, pin), the
//     other.
//
// A body of more than maxInferredFields fields (an order, a profile) is
// about nothing in particular and yields "".
func inferredSubject(buf []byte, ct string) string {
	var names, values []string
	switch {
	case buf == nil:
		return ""
	case ct == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(buf))
		if err != nil || len(q) > maxInferredFields {
			return ""
		}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range q {
				if !yield(k) {
					return
				}
			}
		}) {
			names, values = append(names, name), append(values, q.Get(name))
		}
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		var ok bool
		if names, values, ok = jsonStringFields(buf); !ok {
			return ""
		}
	default:
		return ""
	}
	for i, s := range values {
		if !IsSecretField(names[i]) && (looksLikeEmail(s) || looksLikePhone(s)) {
			return s
		}
	}
	switch len(values) {
	case 1:
		return values[0]
	case 2:
		for i, n := range names {
			if IsSecretField(n) && !IsSecretField(names[1-i]) {
				return values[1-i]
			}
		}
	}
	return ""
}

// jsonStringFields returns the names and non-empty string values of the
// top-level fields of a JSON object, in order; ok is false for anything
// but an object of at most maxInferredFields fields.
func jsonStringFields(buf []byte) (names, values []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(buf))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	for n := 0; dec.More(); n++ {
		if n == maxInferredFields {
			return nil, nil, false
		}
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return nil, nil, false
		}
		var s string
		if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil && s != "" {
			names, values = append(names, name), append(values, s)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, false
	}
	return names, values, true
}

// IsSecretField reports whether a field's name says it carries a secret
// typed with an identifier (a password or PIN), not the identifier: the
// one list of such names (detect.ClassifyField reads it too).
func IsSecretField(name string) bool {
	switch strings.ToLower(name) {
	case "password", "passwd", "pass", "pwd", "secret", "pin", "passcode":
		return true
	}
	return false
}

// looksLikeEmail reports whether s is shaped like an email address: no
// spaces, one '@' with something before it and a dot in the domain after
// it, at most 254 bytes.
func looksLikeEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 1 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n") || strings.Count(s, "@") != 1 {
		return false
	}
	dom := s[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-1
}

// looksLikePhone reports whether s is shaped like a phone number: an
// optional leading '+', then 7 to 15 digits, with spaces, dashes, dots or
// parentheses between them.
func looksLikePhone(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 15
}
