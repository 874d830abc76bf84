package policy

import (
	"errors"
	"reflect"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"github.com/abuseguard/abuseguard/internal/detect"
)

// signalMap is the CEL map(string, double) `signals` over a request's
// signal list, without building a Go map: detector name to the summed
// weight of its signals. Lookups scan the list, which holds a handful of
// entries.
type signalMap struct {
	sigs []detect.Signal
}

// sum returns the summed weight of detector's signals, and whether any.
func (m *signalMap) sum(detector string) (float64, bool) {
	var w float64
	found := false
	for i := range m.sigs {
		if m.sigs[i].Detector == detector {
			w += m.sigs[i].Weight
			found = true
		}
	}
	return w, found
}

// firstOf reports whether index i is the first signal of its detector.
func (m *signalMap) firstOf(i int) bool {
	for j := 0; j < i; j++ {
		if m.sigs[j].Detector == m.sigs[i].Detector {
			return false
		}
	}
	return true
}

func (m *signalMap) native() map[string]float64 {
	out := make(map[string]float64, len(m.sigs))
	for _, s := range m.sigs {
		out[s.Detector] += s.Weight
	}
	return out
}

// Find implements traits.Mapper.
func (m *signalMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return types.ValOrErr(key, "no such key: %v", key), false
	}
	if w, ok := m.sum(string(k)); ok {
		return types.Double(w), true
	}
	return nil, false
}

// Get implements traits.Indexer.
func (m *signalMap) Get(key ref.Val) ref.Val {
	v, found := m.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container.
func (m *signalMap) Contains(key ref.Val) ref.Val {
	v, found := m.Find(key)
	if !found && v != nil && types.IsUnknownOrError(v) {
		return v
	}
	return types.Bool(found)
}

// Size implements traits.Sizer.
func (m *signalMap) Size() ref.Val {
	n := 0
	for i := range m.sigs {
		if m.firstOf(i) {
			n++
		}
	}
	return types.Int(n)
}

// Iterator implements traits.Iterable: each detector name once.
func (m *signalMap) Iterator() traits.Iterator { return &signalKeys{m: m} }

// ConvertToNative implements ref.Val.
func (m *signalMap) ConvertToNative(t reflect.Type) (any, error) {
	native := m.native()
	if reflect.TypeOf(native).AssignableTo(t) {
		return native, nil
	}
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, toAny(native)).ConvertToNative(t)
}

func toAny(m map[string]float64) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ConvertToType implements ref.Val.
func (m *signalMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t)
}

// Equal implements ref.Val: maps are equal when they hold the same keys
// with equal values.
func (m *signalMap) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if m.Size() != o.Size() {
		return types.False
	}
	for i := range m.sigs {
		if !m.firstOf(i) {
			continue
		}
		name := m.sigs[i].Detector
		ov, found := o.Find(types.String(name))
		if !found {
			return types.False
		}
		w, _ := m.sum(name)
		if types.Double(w).Equal(ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (m *signalMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *signalMap) Value() any { return m.native() }

// signalKeys iterates the distinct detector names of a signalMap.
type signalKeys struct {
	m *signalMap
	i int
}

func (it *signalKeys) skip() {
	for it.i < len(it.m.sigs) && !it.m.firstOf(it.i) {
		it.i++
	}
}

// HasNext implements traits.Iterator.
func (it *signalKeys) HasNext() ref.Val {
	it.skip()
	return types.Bool(it.i < len(it.m.sigs))
}

// Next implements traits.Iterator.
func (it *signalKeys) Next() ref.Val {
	it.skip()
	if it.i >= len(it.m.sigs) {
		return nil
	}
	k := types.String(it.m.sigs[it.i].Detector)
	it.i++
	return k
}

func (it *signalKeys) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("type conversion on iterators not supported")
}

func (it *signalKeys) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }

func (it *signalKeys) Equal(ref.Val) ref.Val { return types.NewErr("no such overload") }

func (it *signalKeys) Type() ref.Type { return types.IteratorType }

func (it *signalKeys) Value() any { return nil }

var _ traits.Mapper = (*signalMap)(nil)
