package detect

import (
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
)

func TestFieldWords(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"discount_code", "discount,code"},
		{"giftCardNumber", "gift,Card,Number"},
		{"voucher-code", "voucher,code"},
		{"otp_attempt", "otp,attempt"},
		{"OTPCode", "OTP,Code"},
		{"user.email", "user,email"},
		{"code2fa", "code2fa"},
		{"__x__", "x"},
		{"", ""},
		{"a_b_c_d_e_f_g_h_i_j", "a,b,c,d,e,f,g,h"},
	} {
		var buf [request.MaxNameWords]string
		if got := strings.Join(buf[:request.NameWords(tc.name, &buf)], ","); got != tc.want {
			t.Errorf("FieldWords(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestClassifyFieldWords: names that are not in the lists are read by
// their words, so discount_code is a code as promo_code is; codes
// anyone may know and token fields are not codes.
func TestClassifyFieldWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		want FieldClass
	}{
		{"discount_code", FieldCode},
		{"giftCardNumber", FieldCode},
		{"gift_card_pin", FieldCode},
		{"voucher-code", FieldCode},
		{"otp_attempt", FieldCode},
		{"verificationCode", FieldCode},
		{"coupon_id", FieldCode},
		{"promo_code", FieldCode}, // listed
		{"token", FieldCode},      // listed, the whole name
		{"country_code", FieldOther},
		{"postalCode", FieldOther},
		{"product_code", FieldOther},
		{"status_code", FieldOther},
		{"csrf_token", FieldOther},
		{"refresh_token", FieldOther},
		{"device_token", FieldOther},
		{"product_id", FieldOther},
		{"quantity", FieldOther},
		{"card_number", FieldOther},
		{"is_gift", FieldOther},
		{"user_email", FieldUser},
		{"phoneNumber", FieldUser},
		{"login_id", FieldUser},
		{"new_password", FieldSecret},
		{"userPassword", FieldSecret},
		{"confirmPassword", FieldProfile},
		{"password_confirm", FieldProfile},
		{"first_name", FieldProfile},
		{"displayName", FieldProfile},
	} {
		if got, rank := ClassifyField(tc.name); got != tc.want {
			t.Errorf("ClassifyField(%q) = %s (rank %d), want %s", tc.name, fieldClassNames[got], rank, fieldClassNames[tc.want])
		}
	}
	// A listed name ranks before a name read by its words.
	_, listed := ClassifyField("promo_code")
	_, words := ClassifyField("discount_code")
	if listed >= words {
		t.Errorf("rank of promo_code %d, of discount_code %d: want the listed name first", listed, words)
	}
}

// TestInferKindCodeRoutes reproduces the held-out ticketing API's code
// check, POST /api/v3/carts/current/discount {"discount_code"} answering
// 404 for an unknown code: without field words and the discount path
// word nothing pointed to a code check. A cart's item endpoint that
// answers 409 and 404 item by item stays no stronger a code check than
// its statuses make it.
func TestInferKindCodeRoutes(t *testing.T) {
	evidence := func(path string, fields []string, statuses ...int) *KindEvidence {
		e := &KindEvidence{Method: "POST", Words: PathWordsOf(path)}
		for _, st := range statuses {
			e.N++
			e.Status.Add(st)
			for _, f := range fields {
				if c, _ := ClassifyField(f); c != FieldOther {
					e.Fields.Counts[c]++
				}
			}
		}
		return e
	}
	for _, tc := range []struct {
		name string
		e    *KindEvidence
		want string
	}{
		{"discount_code answering 404, no path word", evidence("/api/v3/carts/current/apply", []string{"discount_code"}, 404, 404, 404), KindVerify},
		{"the discount path word alone", evidence("/api/v3/carts/current/discount", []string{"value"}, 404, 404), KindVerify},
		{"a gift card path", evidence("/v1/gift-cards/balance", []string{"number"}, 404), KindVerify},
		{"a giftCardNumber field", evidence("/v1/checkout/apply", []string{"giftCardNumber"}, 200), KindVerify},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if best, conf := InferKind(tc.e); best != tc.want {
				t.Fatalf("InferKind = %q %v, want %q", best, conf, tc.want)
			}
		})
	}
	// The trap: a cart's items, answering 409 (out of stock) and 404
	// (gone) item by item, with product fields: the field words add
	// nothing to what its statuses say.
	items := evidence("/api/v3/carts/current/items", []string{"product_code", "quantity", "size_code"}, 201, 409, 201, 404, 201)
	plain := evidence("/api/v3/carts/current/items", []string{"quantity"}, 201, 409, 201, 404, 201)
	_, c1 := InferKind(items)
	_, c2 := InferKind(plain)
	if c1.Of(KindVerify) != c2.Of(KindVerify) {
		t.Errorf("cart items: verify confidence %.2f with product fields, %.2f without: want the same", c1.Of(KindVerify), c2.Of(KindVerify))
	}
	if SuggestKind(items).Kind == KindVerify {
		t.Errorf("cart items suggested a code check: %+v", SuggestKind(items))
	}
}

// FuzzFieldWords feeds arbitrary names to request.NameWords and
// ClassifyField: no panic, at most request.MaxNameWords non-empty words, each a substring of
// the name without separators, in order.
func FuzzFieldWords(f *testing.F) {
	for _, s := range []string{"discount_code", "giftCardNumber", "OTPCode", "a-b.c d", "", "_", "ÄÖü_code", "\xff\xfeCode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if len(name) > 1<<10 {
			t.Skip()
		}
		var buf [request.MaxNameWords]string
		n := request.NameWords(name, &buf)
		if n < 0 || n > request.MaxNameWords {
			t.Fatalf("FieldWords(%q) = %d words", name, n)
		}
		at := 0
		for _, w := range buf[:n] {
			i := strings.Index(name[at:], w)
			if w == "" || i < 0 || strings.ContainsAny(w, "_-. ") {
				t.Fatalf("FieldWords(%q): word %q out of order, empty or with a separator (%q)", name, w, buf[:n])
			}
			at += i + len(w)
		}
		ClassifyField(name)
	})
}
