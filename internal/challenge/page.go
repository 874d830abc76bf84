package challenge

import (
	"bytes"
	"embed"
	"html/template"
	"sync"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

//go:embed web/page.html web/worker.js
var web embed.FS

var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.ParseFS(web, "web/page.html"))
})

// pageData is what the interstitial page shows.
type pageData struct {
	Challenge  challenge.Challenge
	Difficulty int
	RequestID  string
	Worker     string // the solver's source, web/worker.js
}

var workerJS = sync.OnceValue(func() string {
	b, _ := web.ReadFile("web/worker.js") // embedded: cannot fail
	return string(b)
})

// Page returns the interstitial page for a browser challenged with c: a
// self-contained HTML document (no external resources) that solves c in a
// Web Worker (Web Crypto in a secure context, its own SHA-256 elsewhere),
// shows progress, leaves the solution in the abuseguard_solution cookie
// and reloads the page, whose request then earns the HttpOnly pass
// cookie. Without JavaScript, a <noscript> text explains what is needed.
func Page(c challenge.Challenge, requestID string) []byte {
	var b bytes.Buffer
	if err := page().Execute(&b, pageData{Challenge: c, Difficulty: c.Difficulty, RequestID: requestID, Worker: workerJS()}); err != nil {
		// The template is fixed and its data plain: this cannot fail but
		// on a broken build; say so rather than send half a page.
		return []byte("<!doctype html><title>Challenge</title><p>The challenge page could not be built: " +
			template.HTMLEscapeString(err.Error()))
	}
	return b.Bytes()
}
