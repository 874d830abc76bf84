package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Target is a rollout mode as operators write it: "shadow", "canary:N"
// (N percent, 0 < N < 100) or "enforce".
type Target struct {
	Mode    string  // shadow, canary or enforce
	Percent float64 // for canary
}

// ParseTarget parses "shadow", "canary:N" or "enforce".
func ParseTarget(s string) (Target, error) {
	switch s {
	case "shadow", "enforce":
		return Target{Mode: s}, nil
	}
	if p, ok := strings.CutPrefix(s, "canary:"); ok {
		n, err := strconv.ParseFloat(strings.TrimSuffix(p, "%"), 64)
		if err != nil || !(n > 0 && n < 100) {
			return Target{}, fmt.Errorf("%q: the canary percentage must be a number between 0 and 100 (exclusive)", s)
		}
		return Target{Mode: "canary", Percent: n}, nil
	}
	return Target{}, fmt.Errorf("%q is not shadow, canary:N or enforce", s)
}

// String returns t as ParseTarget reads it.
func (t Target) String() string {
	if t.Mode == "canary" {
		return "canary:" + strconv.FormatFloat(t.Percent, 'f', -1, 64)
	}
	return t.Mode
}

// Override is an operator's mode for one limit or rule, set through the
// admin API over what the config file says. It holds only while the file
// still says FileMode: when the file changes the mode, the file wins and
// the override is dropped (the file stays the source of truth for what it
// sets).
type Override struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`      // limit or rule
	Mode     string    `json:"mode"`      // the target, as ParseTarget reads it
	FileMode string    `json:"file_mode"` // what the file said when the override was set
	Previous string    `json:"previous"`  // the effective mode before, for the audit trail
	By       string    `json:"by"`        // who set it (the admin API client's address)
	At       time.Time `json:"at"`
}

// Overrides are the operators' rollout overrides, saved to a JSON file
// (written to a temporary file and renamed, so a crash leaves the old or
// the new state, never half of one). The zero path keeps them in memory.
// It is safe for concurrent use.
type Overrides struct {
	path string
	mu   sync.Mutex
	m    map[string]Override
}

// OpenOverrides reads the overrides saved at path; a missing file is an
// empty set. path "" keeps them in memory only.
func OpenOverrides(path string) (*Overrides, error) {
	o := &Overrides{path: path, m: map[string]Override{}}
	if path == "" {
		return o, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollout state: %w", err)
	}
	var list []Override
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("rollout state %s: %w", path, err)
	}
	for _, ov := range list {
		if _, err := ParseTarget(ov.Mode); err != nil || ov.Name == "" || ov.Kind != "limit" && ov.Kind != "rule" {
			return nil, fmt.Errorf("rollout state %s: override %q: bad mode %q", path, ov.Name, ov.Mode)
		}
		o.m[key(ov.Kind, ov.Name)] = ov
	}
	return o, nil
}

// key is the map key of the limit or rule kind:name: a limit and a rule
// may share a name.
func key(kind, name string) string { return kind + ":" + name }

// Get returns the override of the limit or rule (kind) called name.
func (o *Overrides) Get(kind, name string) (Override, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ov, ok := o.m[key(kind, name)]
	return ov, ok
}

// List returns every override, by name.
func (o *Overrides) List() []Override {
	o.mu.Lock()
	defer o.mu.Unlock()
	list := make([]Override, 0, len(o.m))
	for _, ov := range o.m {
		list = append(list, ov)
	}
	slices.SortFunc(list, func(a, b Override) int { return strings.Compare(key(a.Kind, a.Name), key(b.Kind, b.Name)) })
	return list
}

// Set records ov (replacing the override of the same name) and saves.
// On a save error nothing changes.
func (o *Overrides) Set(ov Override) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := key(ov.Kind, ov.Name)
	old, had := o.m[k]
	o.m[k] = ov
	if err := o.save(); err != nil {
		if had {
			o.m[k] = old
		} else {
			delete(o.m, k)
		}
		return err
	}
	return nil
}

// Remove drops the override of the limit or rule (kind) called name and
// saves; it reports whether there was one. On a save error nothing
// changes.
func (o *Overrides) Remove(kind, name string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := key(kind, name)
	old, had := o.m[k]
	if !had {
		return false, nil
	}
	delete(o.m, k)
	if err := o.save(); err != nil {
		o.m[k] = old
		return false, err
	}
	return true, nil
}

// save writes the overrides to o.path; o.mu is held.
func (o *Overrides) save() error {
	if o.path == "" {
		return nil
	}
	list := make([]Override, 0, len(o.m))
	for _, ov := range o.m {
		list = append(list, ov)
	}
	slices.SortFunc(list, func(a, b Override) int { return strings.Compare(key(a.Kind, a.Name), key(b.Kind, b.Name)) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.path), filepath.Base(o.path)+".*")
	if err != nil {
		return fmt.Errorf("rollout state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rollout state: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rollout state: %w", err)
	}
	return nil
}
