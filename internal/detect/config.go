package detect

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Registration is one detector's entry in the registry. A detector
// registers itself from its own file (in an init function), so adding a
// detector is that file, its test and its docs.
type Registration struct {
	// Name is the detector's stable name: its key under `detectors:` in a
	// config, and the Detector's Name.
	Name string
	// Order places the detector in the pipeline: detectors see each
	// request in ascending Order.
	Order int
	// Settings returns the detector's settings with every field zero (a
	// pointer to a struct that embeds Common inline); zero fields take the
	// detector's defaults when it is built.
	Settings func() Settings
	// New builds the detector from its settings (a value Settings
	// returned, decoded from a config).
	New func(s Settings, env Env) Detector
}

// Settings are one detector's settings: a pointer to a struct embedding
// Common.
type Settings interface{ base() *Common }

func (c *Common) base() *Common { return c }

// Env is what a detector is built with besides its settings.
type Env struct {
	Hasher Hasher
	// Pseudonym hashes identifiers as the request parser does (honeytokens).
	Pseudonym func(prefix, s string) string
	// RoutesConfigured says whether the route table lists the API's
	// endpoints (and unknown routes are refused).
	RoutesConfigured bool
	// Cluster is what the nodes of a cluster count together; nil on a
	// single node.
	Cluster Cluster
}

var registry []Registration

// Register adds a detector to the registry. It is called from init
// functions; a second registration of a name is a programming error and
// panics at start.
func Register(r Registration) {
	for _, o := range registry {
		if o.Name == r.Name {
			panic("detect: detector " + r.Name + " registered twice")
		}
	}
	registry = append(registry, r)
	slices.SortStableFunc(registry, func(a, b Registration) int { return a.Order - b.Order })
}

// Registered returns every registered detector, in pipeline order.
func Registered() []Registration { return slices.Clone(registry) }

// Config holds every registered detector's settings by name; a config
// file sets them under `detectors:`, each with its `mode` (enforce,
// shadow or off; "on" is enforce). The zero Config holds every detector's
// defaults.
type Config struct {
	settings map[string]Settings
}

// Field returns a pointer to the settings of the detector name, for a
// config decoder to decode onto, and false for an unknown name.
func (c *Config) Field(name string) (any, bool) {
	c.init()
	s, ok := c.settings[name]
	return s, ok
}

// FieldNames returns the registered detectors' names.
func (c *Config) FieldNames() []string {
	names := make([]string, len(registry))
	for i, r := range registry {
		names[i] = r.Name
	}
	return names
}

func (c *Config) init() {
	if c.settings != nil {
		return
	}
	c.settings = make(map[string]Settings, len(registry))
	for _, r := range registry {
		c.settings[r.Name] = r.Settings()
	}
}

// settingsOf returns the settings of r in c.
func (c *Config) settingsOf(name string) Settings {
	c.init()
	return c.settings[name]
}

// Modes returns each detector's mode by name.
func (c *Config) Modes() map[string]verdict.Mode {
	out := map[string]verdict.Mode{}
	for _, r := range registry {
		out[r.Name] = c.settingsOf(r.Name).base().Mode
	}
	return out
}

// FieldError is a detector setting that is out of range.
type FieldError struct {
	Path string // detector name and field: "sharing.window"
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Validate checks every detector's settings: its mode is one of Modes, no
// count, threshold, weight or window is negative (zero means the default)
// unless its field is tagged `off:"negative"` (a negative value turns
// that check off, as its docs say), and weights are at most 100.
func (c *Config) Validate() []FieldError {
	var errs []FieldError
	for _, r := range registry {
		s := c.settingsOf(r.Name)
		if m := s.base().Mode; !Modes.Has(m) {
			errs = append(errs, FieldError{r.Name + ".mode", fmt.Sprintf("%q: want %s", m, Modes)})
		}
		checkFields(reflect.ValueOf(s).Elem(), r.Name, &errs)
	}
	return errs
}

var durationType = reflect.TypeFor[time.Duration]()

func checkFields(v reflect.Value, path string, errs *[]FieldError) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if f.Anonymous && fv.Kind() == reflect.Struct {
			checkFields(fv, path, errs)
			continue
		}
		if name == "-" || name == "" {
			continue
		}
		p := path + "." + name
		offable := f.Tag.Get("off") == "negative"
		switch {
		case fv.Type() == durationType:
			if fv.Int() < 0 {
				*errs = append(*errs, FieldError{p, "must not be negative (0: the default)"})
			}
		case fv.CanInt():
			if fv.Int() < 0 && !offable {
				*errs = append(*errs, FieldError{p, "must not be negative (0: the default)"})
			}
		case fv.CanFloat():
			x := fv.Float()
			switch {
			case x != x || x < 0 && !offable:
				*errs = append(*errs, FieldError{p, "must not be negative (0: the default)"})
			case strings.HasSuffix(name, "weight") && x > 100:
				*errs = append(*errs, FieldError{p, "risk points are at most 100"})
			}
		}
	}
}

// Factory builds detectors and keeps them across reloads: a detector whose
// settings did not change keeps its state. It is not safe for concurrent
// use; policies are compiled one at a time.
type Factory struct {
	h     Hasher
	built map[string]built
}

type built struct {
	settings any // a copy of the settings the detector was built from
	d        Detector
}

// NewFactory returns a Factory hashing with h.
func NewFactory(h Hasher) *Factory { return &Factory{h: h, built: map[string]built{}} }

// Build returns the detectors of c that are not off, in pipeline order.
// entities is the max_entities of each detector whose settings set none.
func (f *Factory) Build(c *Config, env Env, entities int) []Detector {
	env.Hasher = f.h
	var ds []Detector
	for _, r := range registry {
		s := copySettings(c.settingsOf(r.Name))
		cm := s.base()
		if cm.Mode == verdict.Off {
			continue
		}
		if cm.MaxEntities == 0 {
			cm.MaxEntities = entities
		}
		key := reflect.ValueOf(s).Elem().Interface()
		if b, ok := f.built[r.Name]; ok && reflect.DeepEqual(b.settings, key) {
			ds = append(ds, b.d)
			continue
		}
		d := r.New(s, env)
		f.built[r.Name] = built{settings: key, d: d}
		ds = append(ds, d)
	}
	return ds
}

// copySettings returns a copy of s, so that building never changes a
// config.
func copySettings(s Settings) Settings {
	v := reflect.New(reflect.TypeOf(s).Elem())
	v.Elem().Set(reflect.ValueOf(s).Elem())
	return v.Interface().(Settings)
}
