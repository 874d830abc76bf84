package routelearn

import (
	"fmt"
	"strings"
)

// Kinds a learned route can be given. Login, reset, signup, verify,
// graphql and decoy are config route kinds; search has none (a search
// route is named "search" so limits can name it).
const (
	KindLogin   = "login"
	KindReset   = "reset"
	KindSignup  = "signup"
	KindVerify  = "verify"
	KindGraphQL = "graphql"
	KindDecoy   = "decoy"
	KindSearch  = "search"
)

// minConfidence is the confidence from which a kind is suggested.
const minConfidence = 0.5

// Inference is what the evidence says one template is for.
type Inference struct {
	Kind       string   `json:"kind,omitempty"`
	Confidence float64  `json:"confidence,omitempty"`
	Field      string   `json:"field,omitempty"` // the body field naming the subject of a login, reset, signup or verify
	Evidence   []string `json:"evidence,omitempty"`
}

// clue is one piece of evidence for a kind, with the weight it adds.
type clue struct {
	kind   string
	weight float64
	text   string
}

// Path words that suggest a kind.
var pathWords = map[string]string{
	"login": KindLogin, "signin": KindLogin, "logon": KindLogin, "session": KindLogin, "sessions": KindLogin,
	"authenticate": KindLogin, "token": KindLogin, "tokens": KindLogin, "oauth": KindLogin,
	"reset": KindReset, "forgot": KindReset, "recover": KindReset, "recovery": KindReset,
	"signup": KindSignup, "register": KindSignup, "registration": KindSignup, "join": KindSignup, "enroll": KindSignup,
	"verify": KindVerify, "verification": KindVerify, "otp": KindVerify, "mfa": KindVerify, "2fa": KindVerify,
	"totp": KindVerify, "coupon": KindVerify, "coupons": KindVerify, "promo": KindVerify, "voucher": KindVerify,
	"vouchers": KindVerify, "redeem": KindVerify, "giftcard": KindVerify, "pin": KindVerify, "confirm": KindVerify,
	"graphql": KindGraphQL, "gql": KindGraphQL,
	"search": KindSearch, "find": KindSearch, "lookup": KindSearch, "autocomplete": KindSearch, "suggest": KindSearch,
	"admin": KindDecoy, "wp-admin": KindDecoy, "wp-login.php": KindDecoy, "phpmyadmin": KindDecoy, ".env": KindDecoy,
	".git": KindDecoy, "backup": KindDecoy, "actuator": KindDecoy, "debug": KindDecoy, "console": KindDecoy,
	"xmlrpc.php": KindDecoy, "server-status": KindDecoy,
}

// Body fields that name a subject, by preference.
var (
	userFields   = []string{"username", "email", "login", "user", "user_name", "phone", "account"}
	codeFields   = []string{"code", "coupon", "promo", "promo_code", "otp", "pin", "voucher", "token", "totp"}
	secretFields = []string{"password", "passwd", "pass", "pwd"}
	searchParams = []string{"q", "query", "search", "term"}
)

// words splits a template's literal segments into lower-case words.
func words(path string) []string {
	var ws []string
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		if strings.HasPrefix(seg, "{") {
			continue
		}
		seg = strings.ToLower(seg)
		ws = append(ws, seg) // whole segments: "wp-login.php", ".env"
		for _, w := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			if w != seg {
				ws = append(ws, w)
			}
		}
	}
	return ws
}

// infer weighs the evidence about t. Each clue adds its weight w as
// 1-(1-c)(1-w), so clues agree towards 1 without passing it.
func infer(t *template) Inference {
	var clues []clue
	ws := words(t.path)
	seenWord := map[string]bool{}
	for _, w := range ws {
		if k, ok := pathWords[w]; ok && !seenWord[k] {
			seenWord[k] = true
			weight := 0.55
			if k == KindDecoy {
				weight = 0.3 // only with 404s (below)
			}
			clues = append(clues, clue{k, weight, fmt.Sprintf("path word %q", w)})
		}
	}
	if seenWord[KindLogin] && hasWord(ws, "password") {
		// "/password/reset", "/password/forgot": reset, not login.
		seenWord[KindLogin] = false
	}
	posts := t.method == "POST" || t.method == "PUT" || t.method == "PATCH"
	frac := func(n uint64) float64 { return float64(n) / float64(t.n) }
	count := func(fields []string) (string, uint64) {
		for _, f := range fields {
			if n := t.fields.counts[f]; n > 0 {
				return f, n
			}
		}
		return "", 0
	}
	user, nu := count(userFields)
	code, nc := count(codeFields)
	secret, ns := count(secretFields)
	fieldText := func(fs ...string) string {
		var parts []string
		for _, f := range fs {
			if f != "" {
				parts = append(parts, fmt.Sprintf("%s in %d of %d", f, t.fields.counts[f], t.n))
			}
		}
		return "body fields " + strings.Join(parts, ", ")
	}
	switch {
	case posts && ns > 0 && nu > 0 && t.fields.counts["name"]+t.fields.counts["password_confirmation"]+t.fields.counts["confirm_password"] > 0:
		clues = append(clues, clue{KindSignup, 0.5, fieldText(user, secret, "name")})
	case posts && ns > 0 && nu > 0:
		clues = append(clues, clue{KindLogin, 0.5, fieldText(user, secret)})
	case posts && nu > 0 && ns == 0 && len(t.fields.counts) <= 2:
		clues = append(clues, clue{KindReset, 0.3, fieldText(user) + " and no password"})
	}
	if posts && nc > 0 && ns == 0 {
		clues = append(clues, clue{KindVerify, 0.45, fieldText(code)})
	}
	if t.fields.counts["query"] > 0 {
		clues = append(clues, clue{KindGraphQL, 0.4, fieldText("query")})
	}
	if t.graphql > 0 && frac(t.graphql) >= 0.5 {
		// The document parsed as GraphQL: the strongest clue there is.
		clues = append(clues, clue{KindGraphQL, 0.8, fmt.Sprintf("a GraphQL document in %d of %d", t.graphql, t.n)})
	}
	for _, q := range searchParams {
		if n := t.query.counts[q]; n > 0 && !posts {
			clues = append(clues, clue{KindSearch, 0.45, fmt.Sprintf("query parameter %s in %d of %d", q, n, t.n)})
			break
		}
	}
	// Status semantics.
	if posts && t.status.denied > 0 && frac(t.status.denied) >= 0.05 {
		clues = append(clues, clue{KindLogin, 0.35, fmt.Sprintf("401/403 on %d of %d (refused credentials)", t.status.denied, t.n)})
	}
	if posts && t.status.invalid > 0 && frac(t.status.invalid) >= 0.2 {
		clues = append(clues, clue{KindVerify, 0.3, fmt.Sprintf("400/422 on %d of %d (rejected codes)", t.status.invalid, t.n)})
	}
	if t.status.notFound > 0 && frac(t.status.notFound) >= 0.9 && t.status.ok == 0 && !t.hasID {
		clues = append(clues, clue{KindDecoy, 0.4, fmt.Sprintf("404 on %d of %d, never served", t.status.notFound, t.n)})
	}
	conf := map[string]float64{}
	var evidence = map[string][]string{}
	for _, c := range clues {
		if c.kind == KindLogin && !seenWord[KindLogin] && strings.HasPrefix(c.text, "path word") {
			continue
		}
		weight := c.weight
		if !posts && (c.kind == KindLogin || c.kind == KindReset || c.kind == KindSignup || c.kind == KindVerify) {
			weight *= 0.3 // these are form posts; a GET is a page about them
		}
		conf[c.kind] = 1 - (1-conf[c.kind])*(1-weight)
		evidence[c.kind] = append(evidence[c.kind], c.text)
	}
	if conf[KindDecoy] > 0 && (t.status.ok > 0 || t.status.notFound == 0) {
		conf[KindDecoy] = 0 // served to someone: not a decoy
	}
	best := ""
	for _, k := range []string{KindLogin, KindReset, KindSignup, KindVerify, KindGraphQL, KindSearch, KindDecoy} {
		if conf[k] > conf[best] {
			best = k
		}
	}
	if best == "" || conf[best] < minConfidence {
		return Inference{}
	}
	inf := Inference{Kind: best, Confidence: float64(int(conf[best]*100+0.5)) / 100, Evidence: evidence[best]}
	switch best {
	case KindLogin, KindReset, KindSignup:
		inf.Field = user
	case KindVerify:
		inf.Field = code
	}
	if posts {
		inf.Evidence = append(inf.Evidence, t.method)
	}
	return inf
}

func hasWord(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}
