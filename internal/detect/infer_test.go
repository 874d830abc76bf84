package detect

import "testing"

func TestLooksLikeID(t *testing.T) {
	for seg, want := range map[string]bool{
		"42": true, "0007": true, "3f2504e0-4f89-11d3-9a0c-0305e82c3301": true, "deadbeef42": true,
		"blue-widget-42": true, "sku_1234": true, "aZ9xQ7kLmN2pR5tV8wY1": true,
		"products": false, "v1": false, "api": false, "blue-widget": false, "": false,
		"deadbeef": false, "search.json": false, "a%20b": false, "v2": false,
	} {
		if got := looksLikeID(seg); got != want {
			t.Errorf("looksLikeID(%q) = %v, want %v", seg, got, want)
		}
	}
}

func TestInferredResource(t *testing.T) {
	h := NewFixedHasher()
	id, a, ok := inferredResource(h, "/v2/catalog/items/1234")
	_, b, _ := inferredResource(h, "/v2/catalog/items/99")
	_, c, _ := inferredResource(h, "/v2/catalog/sellers/99")
	if !ok || id != "1234" || a != b || a == c {
		t.Fatalf("id %q ok %v, templates %x %x %x: want one template for items, another for sellers", id, ok, a, b, c)
	}
	id, d, _ := inferredResource(h, "/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders/7")
	_, e, _ := inferredResource(h, "/users/6ba7b810-9dad-11d1-80b4-00c04fd430c8/orders/8")
	if id != "7" || d != e {
		t.Fatalf("nested ids: last id %q, templates %x %x", id, d, e)
	}
	if _, _, ok := inferredResource(h, "/v2/catalog/search"); ok {
		t.Fatal("a path without an id-like segment has no resource")
	}
	if n := testing.AllocsPerRun(100, func() { inferredResource(h, "/v2/catalog/items/1234") }); n != 0 {
		t.Fatalf("inferredResource allocates %v times", n)
	}
}

// TestScrapingNumericID checks the ids a sequential walk reads: plain
// numbers and a word-and-number slug, not hex, mixed or multi-word slugs.
func TestScrapingNumericID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"123", 123, true}, {"lst-00123", 123, true}, {"item_42", 42, true}, {"SKU-7", 7, true},
		{"", 0, false}, {"lst-", 0, false}, {"a1-5", 0, false}, {"blue-kettle-5", 0, false},
		{"deadbeef", 0, false}, {"verylongprefixword-5", 0, false}, {"12345678901234567890", 0, false},
	} {
		if got, ok := scrapingNumericID(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("scrapingNumericID(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
