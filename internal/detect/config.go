package detect

import (
	"reflect"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Config configures every detector; a config file sets it under
// `detectors:`. Each detector's zero fields get its defaults.
type Config struct {
	Probing     ProbingConfig     `yaml:"probing"`
	Honeypot    HoneypotConfig    `yaml:"honeypot"`
	Automation  AutomationConfig  `yaml:"automation"`
	Scraping    ScrapingConfig    `yaml:"scraping"`
	Credentials CredentialsConfig `yaml:"credentials"`
	Enumeration EnumerationConfig `yaml:"enumeration"`
	Sharing     SharingConfig     `yaml:"sharing"`
	Volumetric  VolumetricConfig  `yaml:"volumetric"`
	GraphQL     GraphQLConfig     `yaml:"graphql"`
}

// Modes returns each detector's mode by name ("" is on).
func (c Config) Modes() map[string]verdict.Mode {
	return map[string]verdict.Mode{
		"probing": c.Probing.Mode, "honeypot": c.Honeypot.Mode, "automation": c.Automation.Mode,
		"scraping": c.Scraping.Mode, "credentials": c.Credentials.Mode, "enumeration": c.Enumeration.Mode,
		"sharing": c.Sharing.Mode, "volumetric": c.Volumetric.Mode, "graphql": c.GraphQL.Mode,
	}
}

// Factory builds detectors and keeps them across reloads: a detector whose
// configuration did not change keeps its state. It is not safe for
// concurrent use; policies are compiled one at a time.
type Factory struct {
	h     Hasher
	built map[string]built
}

type built struct {
	cfg any
	d   Detector
}

// NewFactory returns a Factory hashing with h.
func NewFactory(h Hasher) *Factory { return &Factory{h: h, built: map[string]built{}} }

// Build returns the detectors of c that are not off, in a fixed order.
// routesConfigured says whether the route table lists the API's endpoints;
// pseudonym hashes honeytoken identifiers as the request parser does;
// entities is the max_entities of each detector whose config sets none.
func (f *Factory) Build(c Config, routesConfigured bool, pseudonym func(prefix, s string) string, entities int) []Detector {
	c.Probing.RoutesConfigured = routesConfigured
	for _, cm := range []*Common{&c.Probing.Common, &c.Honeypot.Common, &c.Automation.Common, &c.Scraping.Common,
		&c.Credentials.Common, &c.Enumeration.Common, &c.Sharing.Common, &c.Volumetric.Common, &c.GraphQL.Common} {
		if cm.MaxEntities == 0 {
			cm.MaxEntities = entities
		}
	}
	var ds []Detector
	add := func(name string, mode verdict.Mode, cfg any, make func() Detector) {
		if mode == verdict.Off {
			return
		}
		if b, ok := f.built[name]; ok && reflect.DeepEqual(b.cfg, cfg) {
			ds = append(ds, b.d)
			return
		}
		d := make()
		f.built[name] = built{cfg: cfg, d: d}
		ds = append(ds, d)
	}
	add("honeypot", c.Honeypot.Mode, c.Honeypot, func() Detector {
		hc := c.Honeypot
		hc.Pseudonym = pseudonym
		return NewHoneypot(hc, f.h)
	})
	add("probing", c.Probing.Mode, c.Probing, func() Detector { return NewProbing(c.Probing, f.h) })
	add("automation", c.Automation.Mode, c.Automation, func() Detector { return NewAutomation(c.Automation, f.h) })
	add("scraping", c.Scraping.Mode, c.Scraping, func() Detector { return NewScraping(c.Scraping, f.h) })
	add("credentials", c.Credentials.Mode, c.Credentials, func() Detector { return NewCredentials(c.Credentials, f.h) })
	add("enumeration", c.Enumeration.Mode, c.Enumeration, func() Detector { return NewEnumeration(c.Enumeration, f.h) })
	add("sharing", c.Sharing.Mode, c.Sharing, func() Detector { return NewSharing(c.Sharing, f.h) })
	add("volumetric", c.Volumetric.Mode, c.Volumetric, func() Detector { return NewVolumetric(c.Volumetric, f.h) })
	add("graphql", c.GraphQL.Mode, c.GraphQL, func() Detector { return NewGraphQL(c.GraphQL) })
	return ds
}
