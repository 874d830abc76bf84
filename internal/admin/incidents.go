package admin

import (
	"net/http"
	"strconv"

	"github.com/abuseguard/abuseguard/internal/incident"
	"github.com/abuseguard/abuseguard/internal/problem"
)

// Incidents is what the incident routes (/v1/incidents) read.
type Incidents interface {
	List() []incident.Incident
	Get(id string) (incident.Incident, bool)
	Summary() incident.Summary
}

var _ Incidents = (*incident.Tracker)(nil)

// IncidentList is the body of GET /v1/incidents.
type IncidentList struct {
	Summary   incident.Summary    `json:"summary"`
	Incidents []incident.Incident `json:"incidents"` // newest first
}

func (a *api) incidentRoutes(mux *http.ServeMux) {
	handle(mux, "/v1/incidents", on{"GET", a.incidents})
	handle(mux, "/v1/incidents/{id}", on{"GET", a.incident})
}

func (a *api) incidentsOff(w http.ResponseWriter) bool {
	if a.opts.Incidents != nil {
		return false
	}
	problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "incidents_unavailable",
		Detail: "this server does not track incidents"})
	return true
}

func (a *api) incidents(w http.ResponseWriter, r *http.Request) {
	if a.incidentsOff(w) {
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > incident.MaxIncidents {
			invalid(w, "limit: "+strconv.Quote(s)+" is not a number from 1 to "+strconv.Itoa(incident.MaxIncidents))
			return
		}
		limit = n
	}
	list := a.opts.Incidents.List()
	if len(list) > limit {
		list = list[:limit]
	}
	for i := range list { // the list is an overview: timelines are in GET /v1/incidents/{id}
		list[i].Timeline = nil
	}
	writeJSON(w, http.StatusOK, IncidentList{Summary: a.opts.Incidents.Summary(), Incidents: list})
}

func (a *api) incident(w http.ResponseWriter, r *http.Request) {
	if a.incidentsOff(w) {
		return
	}
	in, ok := a.opts.Incidents.Get(r.PathValue("id"))
	if !ok {
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "not_found", Detail: "no incident " + strconv.Quote(r.PathValue("id"))})
		return
	}
	writeJSON(w, http.StatusOK, in)
}
