package detect

import (
	"reflect"
	"testing"
)

// TestValidateNegativeTurnsOff: a negative value is refused, except on a
// field tagged off:"negative", whose docs say a negative value turns its
// check off.
func TestValidateNegativeTurnsOff(t *testing.T) {
	var c Config
	sc, _ := c.Field("scraping")
	s := sc.(*ScrapingConfig)
	s.HarvestThreshold, s.SequentialRun = -1, -1
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("negative thresholds documented to turn checks off are refused: %v", errs)
	}
	s.StaticWeight, s.Window = -1, -1
	errs := c.Validate()
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	if want := []string{"scraping.window", "scraping.static_weight"}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("errors at %v, want %v", paths, want)
	}
}
