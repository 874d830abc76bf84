package cli

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// fakeCampaigns is an in-memory admin.Campaigns with one campaign.
type fakeCampaigns struct{ c engine.CampaignView }

func (f *fakeCampaigns) Campaigns(time.Time) []engine.CampaignView { return []engine.CampaignView{f.c} }
func (f *fakeCampaigns) Campaign(id string, _ time.Time) (engine.CampaignView, bool) {
	return f.c, id == f.c.ID
}
func (f *fakeCampaigns) DismissCampaign(id string, _ time.Time) (bool, error) {
	if id != f.c.ID {
		return false, nil
	}
	f.c.Dismissed, f.c.Decisions = true, nil
	return true, nil
}

// TestCampaignsCommands lists, shows and dismisses a campaign through the
// admin API, and names a missing one's error.
func TestCampaignsCommands(t *testing.T) {
	now := time.Now()
	f := &fakeCampaigns{c: engine.CampaignView{
		CampaignInfo: detect.CampaignInfo{ID: "c_0123456789abcdef", Kind: "walk", Route: "GET /api/products/{id}", Members: 120, Networks: 2, Walk: 300,
			FirstID: 1, LastID: 300, Start: now.Add(-time.Minute), LastSeen: now, Summary: "300 ids in sequence"},
		Score: 99, Decisions: []decision.Decision{{ID: "d_1", Scope: verdict.ScopeCampaign, Value: "c_0123456789abcdef",
			Action: verdict.Block, Reason: "campaign", Expires: now.Add(5 * time.Minute)}},
	}}
	srv := httptest.NewServer(admin.Handler(admin.Options{Token: testToken, Campaigns: f}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminURL, srv.URL)
	t.Setenv(envAdminToken, testToken)
	code, out, errOut := run("campaigns", "list")
	if code != 0 || !strings.Contains(out, "c_0123456789abcdef  walk  GET /api/products/{id}  120") || !strings.Contains(out, "block") {
		t.Fatalf("list: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("campaigns", "show", "c_0123456789abcdef")
	if code != 0 || !strings.Contains(out, "members: 120 from 2 networks") || !strings.Contains(out, "d_1  block") {
		t.Fatalf("show: %d\n%s%s", code, out, errOut)
	}
	// A behaviour campaign shows what its members did instead of a walk.
	f.c.Kind, f.c.Requests, f.c.FailedShare, f.c.Strength = "behaviour", 80, 0.9, 0.77
	code, out, errOut = run("campaigns", "show", "c_0123456789abcdef")
	if code != 0 || !strings.Contains(out, "behaviour: 80 requests (90% failed, 0% new paths)") || strings.Contains(out, "walk:") {
		t.Fatalf("show a behaviour campaign: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("campaigns", "dismiss", "c_0123456789abcdef")
	if code != 0 || out != "dismissed c_0123456789abcdef (0 decisions in force)\n" || !f.c.Dismissed {
		t.Fatalf("dismiss: %d %q %s", code, out, errOut)
	}
	if code, _, errOut := run("campaigns", "show", "c_nope"); code == 0 || !strings.Contains(errOut, "404 not_found") {
		t.Fatalf("show a missing campaign: %d %s", code, errOut)
	}
}

// TestCampaignsOff: a guard without the campaign detector says so.
func TestCampaignsOff(t *testing.T) {
	srv := httptest.NewServer(admin.Handler(admin.Options{Token: testToken}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminToken, testToken)
	if code, _, errOut := run("campaigns", "list", "--admin", srv.URL); code == 0 || !strings.Contains(errOut, "campaigns_off") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
