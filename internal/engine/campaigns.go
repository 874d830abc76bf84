package engine

import (
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// campaignIndex is what the engine needs of the campaign detector
// (detect.Campaign): a request's campaign, and the campaigns for the
// admin API.
type campaignIndex interface {
	CampaignOf(v *request.View) string
	MemberOf(e verdict.Entity) (id string, contribs int, ok bool)
	Campaigns() []detect.CampaignInfo
	Campaign(id string) (detect.CampaignInfo, bool)
	Dismiss(id string, now time.Time) bool
}

var _ campaignIndex = (*detect.Campaign)(nil)

// findCampaigns returns the campaign detector among ds, nil when it is off.
func findCampaigns(ds []detect.Detector) campaignIndex {
	for _, d := range ds {
		if c, ok := d.(campaignIndex); ok {
			return c
		}
	}
	return nil
}

// campaignDecision returns the decision in force on the campaign v's
// subject is a member of: one table lookup, then one decision lookup
// when it is a member of one.
func (p *Policy) campaignDecision(v *request.View, buf []byte, now int64) (*decision.Decision, []byte) {
	if p.campaigns == nil {
		return nil, buf
	}
	c := p.campaigns.CampaignOf(v)
	if c == "" {
		return nil, buf
	}
	buf = append(buf[:0], c...)
	return p.shared.Decisions.Active(verdict.ScopeCampaign, buf, now), buf
}

// CampaignView is a campaign with its risk and decisions, for the admin API.
type CampaignView struct {
	detect.CampaignInfo
	Score     float64             `json:"score"`
	Decisions []decision.Decision `json:"decisions"`
}

// Campaigns returns the campaigns the campaign detector found, the most
// recently active first; none when it is off.
func (e *Engine) Campaigns(now time.Time) []CampaignView {
	c := e.Policy().campaigns
	if c == nil {
		return []CampaignView{}
	}
	infos := c.Campaigns()
	out := make([]CampaignView, 0, len(infos))
	for _, info := range infos {
		out = append(out, e.campaignView(info, now))
	}
	return out
}

// Campaign returns the campaign with id.
func (e *Engine) Campaign(id string, now time.Time) (CampaignView, bool) {
	c := e.Policy().campaigns
	if c == nil {
		return CampaignView{}, false
	}
	info, ok := c.Campaign(id)
	if !ok {
		return CampaignView{}, false
	}
	return e.campaignView(info, now), true
}

func (e *Engine) campaignView(info detect.CampaignInfo, now time.Time) CampaignView {
	x := e.Explain(verdict.Entity{Scope: verdict.ScopeCampaign, Value: info.ID}, now)
	return CampaignView{CampaignInfo: info, Score: x.Score, Decisions: x.Decisions}
}

// DismissCampaign marks the campaign id as none (an operator's call) and
// lifts the decisions on it; it reports whether id was a campaign, and
// the first error lifting a decision returned.
func (e *Engine) DismissCampaign(id string, now time.Time) (bool, error) {
	c := e.Policy().campaigns
	if c == nil || !c.Dismiss(id, now) {
		return false, nil
	}
	ds := e.shared.Decisions
	if ds == nil {
		return true, nil
	}
	var first error
	for _, d := range ds.ForEntity(verdict.ScopeCampaign, id, now) {
		if _, err := ds.Remove(d.ID); err != nil && first == nil {
			first = err
		}
	}
	return true, first
}
