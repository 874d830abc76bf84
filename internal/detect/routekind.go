package detect

import (
	"fmt"
	"strings"

	"github.com/abuseguard/abuseguard/internal/request"
)

// Route kinds: what an endpoint is for, inferred from its traffic when no
// route declares it. Login, reset, signup, verify, graphql and decoy are
// config route kinds; search has none (a search route is named "search"
// so limits can name it).
const (
	KindLogin   = "login"
	KindReset   = "reset"
	KindSignup  = "signup"
	KindVerify  = "verify"
	KindGraphQL = "graphql"
	KindSearch  = "search"
	KindDecoy   = "decoy"
)

// routeKinds lists the kinds in the order InferKind prefers on a tie.
var routeKinds = [...]string{KindLogin, KindReset, KindSignup, KindVerify, KindGraphQL, KindSearch, KindDecoy}

// kindIndex returns k's index in routeKinds, -1 for none.
func kindIndex(k string) int {
	for i, x := range routeKinds {
		if x == k {
			return i
		}
	}
	return -1
}

// Path words that suggest a kind.
var kindWords = map[string]string{
	"login": KindLogin, "signin": KindLogin, "logon": KindLogin, "session": KindLogin, "sessions": KindLogin,
	"authenticate": KindLogin, "token": KindLogin, "tokens": KindLogin, "oauth": KindLogin,
	"reset": KindReset, "forgot": KindReset, "recover": KindReset, "recovery": KindReset,
	"signup": KindSignup, "register": KindSignup, "registration": KindSignup, "join": KindSignup, "enroll": KindSignup,
	"verify": KindVerify, "verification": KindVerify, "otp": KindVerify, "mfa": KindVerify, "2fa": KindVerify,
	"totp": KindVerify, "coupon": KindVerify, "coupons": KindVerify, "promo": KindVerify, "voucher": KindVerify,
	"vouchers": KindVerify, "redeem": KindVerify, "giftcard": KindVerify, "pin": KindVerify, "confirm": KindVerify,
	"discount": KindVerify, "discounts": KindVerify, "giftcards": KindVerify, "gift-card": KindVerify,
	"gift-cards": KindVerify, "gift_card": KindVerify, "gift_cards": KindVerify, "promos": KindVerify,
	"promotion-code": KindVerify, "promotion-codes": KindVerify, "promotion_code": KindVerify, "promotion_codes": KindVerify,
	"graphql": KindGraphQL, "gql": KindGraphQL,
	"search": KindSearch, "find": KindSearch, "lookup": KindSearch, "autocomplete": KindSearch, "suggest": KindSearch,
	"admin": KindDecoy, "wp-admin": KindDecoy, "wp-login.php": KindDecoy, "phpmyadmin": KindDecoy, ".env": KindDecoy,
	".git": KindDecoy, "backup": KindDecoy, "actuator": KindDecoy, "debug": KindDecoy, "console": KindDecoy,
	"xmlrpc.php": KindDecoy, "server-status": KindDecoy,
}

// PathWords is what a path's literal words say about its kind.
type PathWords struct {
	// Kinds has bit i set when a word suggests routeKinds[i].
	Kinds uint8
	// Password is set when a word is "password" ("/password/reset" is a
	// reset, not a login, whatever else it says).
	Password bool
	// First holds, by kind, the first word that suggested it (for
	// evidence); substrings of the path given to PathWordsOf.
	First [len(routeKinds)]string
}

// PathWordsOf reads the literal words of path (a template or a concrete
// path: identifier-looking and {param} segments are skipped), whole
// segments ("wp-login.php"), the segment without its '-' and '_'
// ("sign_in" reads as signin), and its parts split at '-', '_' and '.'.
// Words are matched case-insensitively. It allocates only for a segment
// with upper-case letters.
func PathWordsOf(path string) PathWords {
	var pw PathWords
	// kind marks the kind the word w suggests, shown as the path's
	// substring shown.
	kind := func(w, shown string) {
		if k, ok := kindWords[w]; ok {
			if i := kindIndex(k); pw.Kinds&(1<<i) == 0 {
				pw.Kinds |= 1 << i
				pw.First[i] = shown
			}
		}
	}
	word := func(w string) {
		kind(w, w)
		if w == "password" {
			pw.Password = true
		}
	}
	for rest := strings.Trim(path, "/"); rest != ""; {
		seg, more, _ := strings.Cut(rest, "/")
		rest = more
		if seg == "" || seg[0] == '{' || looksLikeID(seg) || len(seg) > 64 {
			continue
		}
		if strings.ToLower(seg) != seg {
			seg = strings.ToLower(seg)
		}
		word(seg)
		if !strings.ContainsAny(seg, "-_.") {
			continue
		}
		// Joined: "sign_in", "log-in" and "sign_up" read as signin,
		// login and signup (the segment itself is the evidence).
		var buf [64]byte
		joined := buf[:0]
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c != '-' && c != '_' {
				joined = append(joined, c)
			}
		}
		kind(string(joined), seg)
		for part := seg; part != ""; {
			i := strings.IndexAny(part, "-_.")
			w := part
			if i >= 0 {
				w, part = part[:i], part[i+1:]
			} else {
				part = ""
			}
			if w != "" {
				word(w)
			}
		}
	}
	return pw
}

// KindStatus counts a route's answers by what their status says.
type KindStatus struct {
	OK, Redirect, Denied, NotFound, Invalid, Limited, ServerError, Other uint64
	// Created counts the 201s among OK, Conflict the 409s among Invalid:
	// a post that creates what it names, or finds it exists already.
	Created, Conflict uint64
}

// Add counts one answer: 2xx ok, 3xx redirect, 401/403 denied (refused
// credentials), 404 not found (unknown identifiers), 400/409/422 invalid
// (rejected codes or input), 429 limited, 5xx server error; 201 is also
// created, 409 also a conflict.
func (s *KindStatus) Add(status int) {
	switch status {
	case 201:
		s.Created++
	case 409:
		s.Conflict++
	}
	switch {
	case status >= 200 && status < 300:
		s.OK++
	case status >= 300 && status < 400:
		s.Redirect++
	case status == 401 || status == 403:
		s.Denied++
	case status == 404:
		s.NotFound++
	case status == 400 || status == 409 || status == 422:
		s.Invalid++
	case status == 429:
		s.Limited++
	case status >= 500:
		s.ServerError++
	default:
		s.Other++
	}
}

// FieldClass is what a body field's name says it holds.
type FieldClass uint8

// Field classes.
const (
	FieldOther   FieldClass = iota
	FieldUser               // a username, email, phone: the subject of a login, reset or signup
	FieldSecret             // a password
	FieldCode               // a promo code, one-time code, voucher, PIN
	FieldProfile            // a name or password confirmation: a signup form's
	FieldQuery              // "query": a GraphQL document, or a search's words
	FieldGraphQL            // "variables", "operationName": beside a query, a GraphQL request
	fieldClasses
)

// Body field names by class, by preference: ClassifyField's rank is the
// index here. Secrets are request.IsSecretField's.
var (
	classNames = [fieldClasses][]string{
		FieldUser:    {"username", "email", "login", "user", "user_name", "phone", "account"},
		FieldCode:    {"code", "coupon", "promo", "promo_code", "otp", "pin", "voucher", "token", "totp"},
		FieldProfile: {"name", "password_confirmation", "confirm_password"},
	}
	searchParams = []string{"q", "query", "search", "term"}
)

// ClassifyField returns the class of the body field name (matched
// case-insensitively) and its rank among its class's names (0 the most
// telling), FieldOther and -1 for a name that says nothing. A secret is
// what request.IsSecretField says, except a PIN, which alone is a code
// (a PIN beside a username is still read as a code check, not a login).
// A name in none of the lists is read by its words (request.NameWords:
// discount_code, giftCardNumber, otp-attempt), ranked after the listed
// names; see classifyWords.
func ClassifyField(name string) (FieldClass, int) {
	for _, c := range [...]FieldClass{FieldUser, FieldCode, FieldProfile} {
		for i, n := range classNames[c] {
			if strings.EqualFold(n, name) {
				return c, i
			}
		}
	}
	if request.IsSecretField(name) {
		return FieldSecret, 0
	}
	if strings.EqualFold(name, "query") {
		return FieldQuery, 0
	}
	if strings.EqualFold(name, "variables") || strings.EqualFold(name, "operationName") {
		return FieldGraphQL, 0
	}
	if c := classifyWords(name); c != FieldOther {
		return c, len(classNames[c]) + 1
	}
	return FieldOther, -1
}

// Field name words by what they say (classifyWords).
var (
	// codeWords make a code field wherever they are in the name.
	codeWords = []string{"coupon", "promo", "promocode", "voucher", "otp", "totp", "hotp", "passcode", "giftcard", "redemption"}
	// codeHeads make a code field as the name's last word, unless a
	// word before says what kind of public code it is (codeNotSecret).
	codeHeads = []string{"code", "pin"}
	// codeNotSecret are the words of codes anyone may know: places,
	// languages, currencies, products, statuses (country_code,
	// postalCode, product_code, error_code): looked up, not guessed.
	codeNotSecret = []string{
		"country", "postal", "post", "zip", "currency", "language", "lang", "locale", "region", "state",
		"province", "city", "area", "dial", "dialing", "calling", "airport", "iata", "icao", "station", "timezone",
		"product", "item", "sku", "article", "bar", "barcode", "qr", "hs", "tax", "vat", "color", "colour",
		"size", "status", "error", "response", "reason", "http", "result", "source", "category", "class", "type",
	}
	// userWords make a user field wherever they are in the name.
	userWords = []string{"email", "username", "login", "phone"}
	// secretHeads make a secret field as the name's last word
	// (new_password, userPassword), unless the name also says confirm
	// (a signup's confirmation: a profile field).
	secretHeads = []string{"password", "passwd", "pwd"}
)

// classifyWords returns what the words of a field name (request.NameWords) say it
// holds, FieldOther when they say nothing:
//
//   - a code: a word among coupon, promo, voucher, otp, totp, passcode,
//     giftcard, or "gift" then "card" (gift_card_number), or the last word
//     code or pin (discount_code, verificationCode, gift_pin) without a
//     word of a code anyone may know before it (country_code,
//     product_code, status_code: codeNotSecret);
//   - a user: a word among email, username, login, phone (user_email,
//     phoneNumber, login_id);
//   - a secret: the last word password, passwd or pwd (new_password), a
//     profile field when a word is confirm or confirmation
//     (confirmPassword);
//   - a profile field: the last word name (first_name, displayName).
//
// "token" is a code only as the whole name (ClassifyField's list):
// csrf_token, refresh_token and device_token are not codes anyone
// guesses.
func classifyWords(name string) FieldClass {
	var buf [request.MaxNameWords]string
	words := buf[:request.NameWords(name, &buf)]
	if len(words) < 2 {
		return FieldOther // one word: the lists above were its chance
	}
	has := inList
	last := words[len(words)-1]
	public, confirm := false, false
	for i, w := range words {
		switch {
		case has(codeWords, w):
			return FieldCode
		case strings.EqualFold(w, "gift") && i+1 < len(words) && strings.EqualFold(words[i+1], "card"):
			return FieldCode
		case i < len(words)-1 && has(codeNotSecret, w):
			public = true
		case strings.EqualFold(w, "confirm") || strings.EqualFold(w, "confirmation"):
			confirm = true
		}
	}
	switch {
	case has(codeHeads, last) && !public:
		return FieldCode
	case has(secretHeads, last) || (confirm && anyInList(words, secretHeads)):
		if confirm {
			return FieldProfile
		}
		return FieldSecret
	}
	for _, w := range words {
		if has(userWords, w) {
			return FieldUser
		}
	}
	if strings.EqualFold(last, "name") {
		return FieldProfile
	}
	return FieldOther
}

// inList reports whether w is in list, case-insensitively.
func inList(list []string, w string) bool {
	for _, x := range list {
		if strings.EqualFold(x, w) {
			return true
		}
	}
	return false
}

// anyInList reports whether any of words is in list, case-insensitively.
func anyInList(words, list []string) bool {
	for _, w := range words {
		if inList(list, w) {
			return true
		}
	}
	return false
}

// IsSearchParam reports whether a query parameter's name is a search's
// ("q", "query", "search", "term").
func IsSearchParam(name string) bool {
	for _, n := range searchParams {
		if n == name {
			return true
		}
	}
	return false
}

// KindFields counts, by field class, the requests whose body named a
// field of it.
type KindFields struct {
	Counts [fieldClasses]uint64
	// Names holds, by class, the most telling field name seen (for
	// evidence and a suggested route's field); "" when none was seen or
	// the counter keeps no names.
	Names [fieldClasses]string
	// Distinct is how many distinct field names were seen, as far as the
	// counter knows (0: it does not count them).
	Distinct int
}

// KindEvidence is what is known about one route's traffic.
type KindEvidence struct {
	Method string
	Words  PathWords
	HasID  bool // the route's path has an identifier segment
	N      uint64
	Status KindStatus
	Fields KindFields
	// GraphQL counts requests whose body parsed as a GraphQL document.
	GraphQL uint64
	// Search counts requests whose query named a search parameter
	// (IsSearchParam); SearchParam is one such name.
	Search      uint64
	SearchParam string
}

// KindInference is what the evidence says a route is for.
type KindInference struct {
	Kind       string   `json:"kind,omitempty"`
	Confidence float64  `json:"confidence,omitempty"`
	Field      string   `json:"field,omitempty"` // the body field naming the subject of a login, reset, signup or verify
	Evidence   []string `json:"evidence,omitempty"`
}

// MinKindConfidence is the confidence from which a kind is suggested to
// an operator.
const MinKindConfidence = 0.5

// kindClue is one piece of evidence for a kind, with the weight it adds.
type kindClue struct {
	kind   int
	weight float64
	what   clueKind
}

type clueKind uint8

const (
	clueWord clueKind = iota
	clueSignupFields
	clueLoginFields
	clueResetFields
	clueCodeFields
	clueQueryField
	clueSearchParam
	clueDenied
	clueInvalid
	clueNotFound
	clueNeverServed
	clueGraphQLDocument
	clueCreated
)

// InferKind weighs e's clues (path words, body fields, query parameters,
// status semantics: 401/403 on credentials, 400/409/422 and 404 on codes
// and identifiers, 201 or 409 on a collection post naming a user: a
// signup) and returns the kind each supports, by confidence.
// Each clue adds its weight w as 1-(1-c)(1-w), so agreeing clues tend to
// 1 without passing it; login, reset, signup and verify are form posts,
// so on other methods their clues weigh less. Conf holds the confidence
// per kind (indexed like the kinds InferKind knows); best is the
// strongest kind, "" when nothing points anywhere. It allocates nothing.
func InferKind(e *KindEvidence) (best string, conf KindConfidence) {
	clues, n := kindClues(e)
	posts := isPost(e.Method)
	for _, c := range clues[:n] {
		w := c.weight
		if !posts && (c.kind <= 3) { // login, reset, signup, verify
			w *= 0.3 // these are form posts; a GET is a page about them
		}
		conf[c.kind] = 1 - (1-conf[c.kind])*(1-w)
	}
	if d := kindIndex(KindDecoy); conf[d] > 0 && (e.Status.OK > 0 || e.Status.NotFound == 0) {
		conf[d] = 0 // served to someone: not a decoy
	}
	bi := -1
	for i := range conf {
		if conf[i] > 0 && (bi < 0 || conf[i] > conf[bi]) {
			bi = i
		}
	}
	if bi < 0 {
		return "", conf
	}
	return routeKinds[bi], conf
}

// KindConfidence is InferKind's confidence per kind.
type KindConfidence [len(routeKinds)]float64

// Of returns the confidence in kind k.
func (c KindConfidence) Of(k string) float64 {
	if i := kindIndex(k); i >= 0 {
		return c[i]
	}
	return 0
}

// SuggestKind returns InferKind's verdict for an operator: the strongest
// kind when its confidence is MinKindConfidence or more, with the field
// naming its subject and the evidence for it; zero otherwise.
func SuggestKind(e *KindEvidence) KindInference {
	best, conf := InferKind(e)
	c := conf.Of(best)
	if best == "" || c < MinKindConfidence {
		return KindInference{}
	}
	inf := KindInference{Kind: best, Confidence: float64(int(c*100+0.5)) / 100}
	bi := kindIndex(best)
	clues, n := kindClues(e)
	for _, cl := range clues[:n] {
		if cl.kind == bi {
			inf.Evidence = append(inf.Evidence, e.clueText(cl))
		}
	}
	switch best {
	case KindLogin, KindReset, KindSignup:
		inf.Field = e.Fields.Names[FieldUser]
	case KindVerify:
		inf.Field = e.Fields.Names[FieldCode]
	}
	if isPost(e.Method) {
		inf.Evidence = append(inf.Evidence, e.Method)
	}
	return inf
}

func isPost(method string) bool { return method == "POST" || method == "PUT" || method == "PATCH" }

// kindClues lists e's clues.
func kindClues(e *KindEvidence) (clues [16]kindClue, n int) {
	add := func(kind string, w float64, what clueKind) {
		if n < len(clues) {
			clues[n] = kindClue{kindIndex(kind), w, what}
			n++
		}
	}
	words := e.Words.Kinds
	if e.Words.Password {
		words &^= 1 << kindIndex(KindLogin) // "/password/reset": reset, not login
	}
	for i, k := range routeKinds {
		if words&(1<<i) != 0 {
			w := 0.55
			if k == KindDecoy {
				w = 0.3 // only with 404s (below)
			}
			add(k, w, clueWord)
		}
	}
	posts := isPost(e.Method)
	f := &e.Fields.Counts
	user, secret, code := f[FieldUser], f[FieldSecret], f[FieldCode]
	switch {
	case posts && secret > 0 && user > 0 && f[FieldProfile] > 0:
		add(KindSignup, 0.5, clueSignupFields)
	case posts && secret > 0 && user > 0:
		add(KindLogin, 0.5, clueLoginFields)
	case posts && user > 0 && secret == 0 && e.Fields.Distinct <= 2:
		add(KindReset, 0.3, clueResetFields)
	}
	if posts && code > 0 && secret == 0 {
		add(KindVerify, 0.5, clueCodeFields)
	}
	switch {
	case f[FieldQuery] > 0 && f[FieldGraphQL] > 0:
		add(KindGraphQL, 0.6, clueQueryField)
	case f[FieldQuery] > 0:
		add(KindGraphQL, 0.4, clueQueryField) // or a search's words
	}
	if e.Search > 0 && !posts {
		add(KindSearch, 0.45, clueSearchParam)
	}
	if e.N == 0 {
		return clues, n
	}
	frac := func(c uint64) float64 { return float64(c) / float64(e.N) }
	if e.GraphQL > 0 && frac(e.GraphQL) >= 0.5 {
		add(KindGraphQL, 0.8, clueGraphQLDocument) // the document parsed: the strongest clue there is
	}
	st := &e.Status
	// Status semantics: a refusal now and then is a clue, a steady share
	// a strong one.
	if posts && st.Denied > 0 {
		w := 0.2
		if frac(st.Denied) >= 0.05 {
			w = 0.35
		}
		add(KindLogin, w, clueDenied)
	}
	if posts && st.Invalid > 0 {
		w := 0.15
		if frac(st.Invalid) >= 0.2 {
			w = 0.3
		}
		add(KindVerify, w, clueInvalid)
	}
	if posts && !e.HasID && user > 0 && (st.Created > 0 || st.Conflict > 0) {
		// A post to a collection naming an email or username that is
		// answered 201 Created, or 409 Conflict (it exists already),
		// creates accounts: a signup; most answers so, a strong clue.
		w := 0.3
		if frac(st.Created+st.Conflict) >= 0.5 {
			w = 0.5
		}
		add(KindSignup, w, clueCreated)
	}
	if posts && st.NotFound > 0 && (e.HasID || st.OK > 0) {
		add(KindVerify, 0.15, clueNotFound) // unknown identifiers or codes looked up
	}
	if st.NotFound > 0 && frac(st.NotFound) >= 0.9 && st.OK == 0 && !e.HasID {
		add(KindDecoy, 0.4, clueNeverServed)
	}
	return clues, n
}

// clueText describes a clue of e's.
func (e *KindEvidence) clueText(cl kindClue) string {
	fields := func(cs ...FieldClass) string {
		var parts []string
		for _, c := range cs {
			if name := e.Fields.Names[c]; name != "" {
				parts = append(parts, fmt.Sprintf("%s in %d of %d", name, e.Fields.Counts[c], e.N))
			} else if e.Fields.Counts[c] > 0 {
				parts = append(parts, fmt.Sprintf("a %s field in %d of %d", fieldClassNames[c], e.Fields.Counts[c], e.N))
			}
		}
		return "body fields " + strings.Join(parts, ", ")
	}
	switch cl.what {
	case clueSignupFields:
		return fields(FieldUser, FieldSecret, FieldProfile)
	case clueLoginFields:
		return fields(FieldUser, FieldSecret)
	case clueResetFields:
		return fields(FieldUser) + " and no password"
	case clueCodeFields:
		return fields(FieldCode)
	case clueQueryField:
		return fields(FieldQuery, FieldGraphQL)
	case clueSearchParam:
		return fmt.Sprintf("query parameter %s in %d of %d", e.SearchParam, e.Search, e.N)
	case clueDenied:
		return fmt.Sprintf("401/403 on %d of %d (refused credentials)", e.Status.Denied, e.N)
	case clueInvalid:
		return fmt.Sprintf("400/409/422 on %d of %d (rejected codes)", e.Status.Invalid, e.N)
	case clueNotFound:
		return fmt.Sprintf("404 on %d of %d (unknown identifiers)", e.Status.NotFound, e.N)
	case clueGraphQLDocument:
		return fmt.Sprintf("a GraphQL document in %d of %d", e.GraphQL, e.N)
	case clueCreated:
		return fmt.Sprintf("201 on %d and 409 on %d of %d beside %s (accounts created, or existing)", e.Status.Created, e.Status.Conflict, e.N, fields(FieldUser))
	case clueNeverServed:
		return fmt.Sprintf("404 on %d of %d, never served", e.Status.NotFound, e.N)
	}
	if w := e.Words.First[cl.kind]; w != "" {
		return fmt.Sprintf("path word %q", w)
	}
	return "path words"
}

var fieldClassNames = [fieldClasses]string{"other", "user", "password", "code", "profile", "query", "graphql"}
