package report

import (
	"io"
	"strings"
	texttemplate "text/template"
	"unicode"
	"unicode/utf8"
)

// writeMarkdown writes report.md from d with templates/report.md.tmpl.
func writeMarkdown(w io.Writer, d *reportData) error {
	return markdownReport.Execute(w, d)
}

var markdownReport = texttemplate.Must(texttemplate.New("report.md.tmpl").Funcs(texttemplate.FuncMap{
	"md": markdownEscape,
}).ParseFS(templates, "templates/report.md.tmpl"))

// markdownEscape makes s safe in a Markdown table cell or paragraph: it
// escapes the punctuation that would start emphasis, code, links or a new
// cell, and writes < and & as entities, so a name like <script> shows as
// text. Underscores are left alone: inside a word they never emphasise.
func markdownEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\', '`', '*', '[', ']', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			// Only "<" before a letter, "/", "!" or "?" can open HTML:
			// "<= 5 s" stays as it is.
			if next, _ := utf8.DecodeRuneInString(s[i+1:]); unicode.IsLetter(next) || strings.ContainsRune("/!?", next) {
				b.WriteString("&lt;")
			} else {
				b.WriteRune(r)
			}
		case '&':
			b.WriteString("&amp;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
