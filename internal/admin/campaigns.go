package admin

import (
	"net/http"
	"time"

	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/problem"
)

// Campaigns lists, shows and dismisses the campaigns the campaign
// detector found (GET /v1/campaigns, GET /v1/campaigns/{id}, POST
// /v1/campaigns/{id}/dismiss). *engine.Engine is one.
type Campaigns interface {
	Campaigns(now time.Time) []engine.CampaignView
	Campaign(id string, now time.Time) (engine.CampaignView, bool)
	DismissCampaign(id string, now time.Time) (bool, error)
}

var _ Campaigns = (*engine.Engine)(nil)

// campaignList is the body of GET /v1/campaigns.
type campaignList struct {
	Campaigns []engine.CampaignView `json:"campaigns"`
}

func (a *api) campaignsOff(w http.ResponseWriter) bool {
	if a.opts.Campaigns != nil {
		return false
	}
	problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "campaigns_off", Detail: "this guard does not look for campaigns"})
	return true
}

func (a *api) listCampaigns(w http.ResponseWriter, _ *http.Request) {
	if a.campaignsOff(w) {
		return
	}
	writeJSON(w, http.StatusOK, campaignList{Campaigns: a.opts.Campaigns.Campaigns(a.opts.Now())})
}

func (a *api) getCampaign(w http.ResponseWriter, r *http.Request) {
	if a.campaignsOff(w) {
		return
	}
	id := r.PathValue("id")
	c, ok := a.opts.Campaigns.Campaign(id, a.opts.Now())
	if !ok {
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "not_found", Detail: "no campaign " + id})
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (a *api) dismissCampaign(w http.ResponseWriter, r *http.Request) {
	if a.campaignsOff(w) {
		return
	}
	id, now := r.PathValue("id"), a.opts.Now()
	ok, err := a.opts.Campaigns.DismissCampaign(id, now)
	switch {
	case !ok:
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "not_found", Detail: "no campaign " + id})
		return
	case err != nil:
		problem.Write(w, &problem.Problem{Status: http.StatusInternalServerError, Reason: "persist_failed",
			Detail: "the campaign is dismissed, but lifting its decisions failed: " + err.Error()})
		return
	}
	c, _ := a.opts.Campaigns.Campaign(id, now)
	writeJSON(w, http.StatusOK, c)
}
