package report

import (
	"html/template"
	"io"
	"strconv"
)

// writeHTML writes report.html from d with templates/report.html.tmpl.
func writeHTML(w io.Writer, d *reportData) error {
	return htmlReport.Execute(w, d)
}

var htmlReport = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"f": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).ParseFS(templates, "templates/report.html.tmpl"))
