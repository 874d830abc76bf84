package config

import (
	"bytes"
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxConfigSize is the largest config file decode accepts, in bytes.
const maxConfigSize = 1 << 20

// maxAliasNodes is how many nodes decode visits through alias expansion
// before it gives up; it stops "billion laughs" documents. Nodes that are
// written out in the file are bounded by maxConfigSize instead.
const maxAliasNodes = 100_000

// maxSuggestDistance is the largest edit distance at which an unknown field
// name is considered a misspelling of a known one.
const maxSuggestDistance = 2

// maxListedFields is the largest number of valid field names an unknown
// field error lists when it has no close suggestion.
const maxListedFields = 8

var (
	durationType      = reflect.TypeFor[time.Duration]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlLineError     = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	structFieldCache  sync.Map // reflect.Type -> *structFields
)

// Position is a place in a config file; Line and Col are 1-based.
type Position struct {
	File      string
	Line, Col int
}

// String returns "file:line:col", or just the file name when Line is 0.
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Error is one problem in a config file: where, which field, what.
type Error struct {
	Pos Position
	// Path is the dotted field path of the value, e.g. "limits[2].rate" or
	// "limits[0].per_plan.gold". Problems with a mapping key (unknown or
	// duplicate) carry the path of the mapping holding the key.
	Path string
	Msg  string
	Err  error // optional cause, e.g. from UnmarshalText; Msg already includes it

	// conflict marks a validation error about settings that are present
	// together: a decode error inside one of them does not explain it.
	conflict bool
}

// Error returns "file:line:col: path: msg", leaving out "path: " when Path
// is empty.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Path + ": " + e.Msg
}

// Unwrap returns the cause of e, or nil.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one load, in file order.
type Errors []*Error

// Error returns the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors as a []error, so errors.Is and errors.As look
// into every one of them.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// Positions maps a field path (same syntax as Error.Path) to where its value
// was written.
type Positions map[string]Position

// decode strictly decodes YAML data into out (a non-nil pointer to struct), recording
// the position of every value it sets in pos (may be nil). It returns all errors found, or nil.
//
// Only the fields present in data are changed: nested structs are decoded
// field by field onto what out already holds, slices and maps present in
// data replace the old value, and an explicit null sets the zero value.
// Empty data, or data holding only comments, changes nothing.
func decode(file string, data []byte, out any, pos Positions) Errors {
	d := &nodeDecoder{
		file:      file,
		pos:       pos,
		reported:  map[reportedError]bool{},
		expanding: map[*yaml.Node]*yaml.Node{},
	}
	target := reflect.ValueOf(out)
	switch {
	case target.Kind() != reflect.Pointer || target.IsNil() || target.Elem().Kind() != reflect.Struct:
		d.add(Position{File: file}, "", fmt.Sprintf("cannot decode into %T: want a non-nil pointer to a struct", out), nil)
	case len(data) > maxConfigSize:
		d.add(Position{File: file}, "", "config is larger than 1 MiB", nil)
	default:
		if root := d.parse(data); root != nil {
			d.root(root, target.Elem())
		}
	}
	return d.sorted()
}

// nodeDecoder holds the state of one decode call.
type nodeDecoder struct {
	file string
	pos  Positions
	errs Errors
	// reported holds the errors recorded so far, so that a problem inside
	// an anchored value is reported once, not once per alias to it.
	reported map[reportedError]bool

	// expanding maps each anchored node whose alias is being decoded to
	// that alias. It catches aliases that refer to themselves, and places
	// the value of an alias where the alias is used.
	expanding map[*yaml.Node]*yaml.Node
	// outerAlias and outerPath are the outermost alias being decoded and
	// its field path, where an alias bomb is reported.
	outerAlias *yaml.Node
	outerPath  string
	// expanded counts nodes visited through aliases; exhausted is set once
	// it passes maxAliasNodes, and stops all further decoding.
	expanded  int
	exhausted bool
}

// parse returns the root node of the single document in data, or nil when
// data holds no document or has a syntax error. Syntax errors and a second
// document are recorded as errors.
func (d *nodeDecoder) parse(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML parser reports syntax errors by panicking internally and
		// recovering; a panic that still escapes is a parser bug, and must
		// not take the process down with it.
		if r := recover(); r != nil {
			d.add(Position{File: d.file, Line: 1, Col: 1}, "", fmt.Sprintf("invalid YAML: %v", r), nil)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.at(&next, "", "only one YAML document is allowed in a config file")
	case !errors.Is(err, io.EOF):
		d.syntax(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// syntax records a YAML syntax error, at the line the parser names if any.
func (d *nodeDecoder) syntax(err error) {
	p := Position{File: d.file}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			p.Line, p.Col = line, 1
			msg = m[2]
		}
	}
	d.add(p, "", "invalid YAML: "+msg, err)
}

// root decodes the root node of the document into v, which must be a struct.
// A null document changes nothing.
func (d *nodeDecoder) root(n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.at(n, "", "top level must be a mapping, not "+describe(n))
		return
	}
	d.value(n, v, "")
}

// value decodes n into v, recording errors under path.
func (d *nodeDecoder) value(n *yaml.Node, v reflect.Value, path string) {
	if !d.visit(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.alias(n, v, path)
		return
	}
	d.record(n, path)
	if isNull(n) {
		v.SetZero()
		return
	}
	d.set(n, v, path)
}

// visit reports whether decoding may go on into n. It counts the nodes
// reached through aliases and reports an error once there are too many.
func (d *nodeDecoder) visit(n *yaml.Node) bool {
	if d.exhausted {
		return false
	}
	if len(d.expanding) == 0 {
		return true
	}
	d.expanded++
	if d.expanded <= maxAliasNodes {
		return true
	}
	d.exhausted = true
	d.at(d.outerAlias, d.outerPath, fmt.Sprintf("aliases expand to more than %d values", maxAliasNodes))
	return false
}

// alias decodes the node that alias n refers to into v.
func (d *nodeDecoder) alias(n *yaml.Node, v reflect.Value, path string) {
	target := n.Alias
	switch {
	case target == nil:
		d.at(n, path, fmt.Sprintf("unknown anchor %q", n.Value))
		return
	case d.expanding[target] != nil:
		d.at(n, path, fmt.Sprintf("alias *%s refers to itself", n.Value))
		return
	}
	if len(d.expanding) == 0 {
		d.outerAlias, d.outerPath = n, path
	}
	d.expanding[target] = n
	d.value(target, v, path)
	delete(d.expanding, target)
}

// set decodes the non-null, non-alias node n into v.
func (d *nodeDecoder) set(n *yaml.Node, v reflect.Value, path string) {
	if isTextUnmarshaler(v) {
		d.text(n, v, path)
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	if v.CanAddr() {
		if fs, ok := v.Addr().Interface().(FieldSet); ok {
			d.fieldSet(n, fs, v.Type(), path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.set(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Interface:
		d.dynamic(n, v, path)
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		d.scalar(n, v, path)
	default:
		d.at(n, path, fmt.Sprintf("cannot decode into unsupported type %s", v.Type()))
	}
}

// dynamic decodes n into v, an empty interface, as plain YAML values
// (maps, lists, strings, numbers, booleans): for free-form fields such as
// metadata. Any other interface type is an error.
func (d *nodeDecoder) dynamic(n *yaml.Node, v reflect.Value, path string) {
	if v.NumMethod() != 0 {
		d.at(n, path, fmt.Sprintf("cannot decode into unsupported type %s", v.Type()))
		return
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.at(n, path, fmt.Sprintf("cannot decode %s: %v", describe(n), err))
		return
	}
	if x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

// text decodes scalar n into v with v's UnmarshalText method. v keeps its
// old value when UnmarshalText fails.
func (d *nodeDecoder) text(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	fresh := reflect.New(v.Type())
	if err := fresh.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
		msg := fmt.Sprintf("cannot parse %s as %s: %v", quoted(n.Value), v.Type(), err)
		d.add(d.position(n), path, msg, err)
		return
	}
	v.Set(fresh.Elem())
}

// duration decodes scalar n, a Go duration string such as "1m30s", into v.
func (d *nodeDecoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		msg := fmt.Sprintf(`cannot parse %s as duration (want e.g. "30s" or "1m30s")`, quoted(n.Value))
		d.add(d.position(n), path, msg, err)
		return
	}
	v.SetInt(int64(dur))
}

// structure decodes mapping n into struct v field by field, leaving the
// fields that n does not mention alone.
func (d *nodeDecoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	fields := fieldsOf(v.Type())
	d.entries(n, path, func(key, val *yaml.Node, name string) {
		i, ok := fields.index[name]
		if !ok {
			d.at(key, path, fields.unknown(name))
			return
		}
		d.value(val, v.FieldByIndex(i), join(path, name))
	})
}

// FieldSet is a value that decodes like a struct whose fields are known
// only at run time: the detectors' settings, one field per registered
// detector.
type FieldSet interface {
	// Field returns a pointer to decode the field's value onto, and false
	// for an unknown name.
	Field(name string) (any, bool)
	// FieldNames returns the known names, for suggestions.
	FieldNames() []string
}

// fieldSet decodes mapping n onto fs field by field.
func (d *nodeDecoder) fieldSet(n *yaml.Node, fs FieldSet, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, t, path)
		return
	}
	names := fs.FieldNames()
	d.entries(n, path, func(key, val *yaml.Node, name string) {
		ptr, ok := fs.Field(name)
		if !ok {
			msg := fmt.Sprintf("unknown field %s", quoted(name))
			if s, close := closest(name, names); close {
				msg += fmt.Sprintf(" (did you mean %s?)", quoted(s))
			} else {
				msg += " (want one of " + strings.Join(names, ", ") + ")"
			}
			d.at(key, path, msg)
			return
		}
		d.value(val, reflect.ValueOf(ptr).Elem(), join(path, name))
	})
}

// sequence replaces slice v with the elements of sequence n.
func (d *nodeDecoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), path+"["+strconv.Itoa(i)+"]")
	}
	v.Set(s)
}

// mapping replaces map v, which must have string keys, with the entries of
// mapping n.
func (d *nodeDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.at(n, path, fmt.Sprintf("cannot decode into unsupported type %s (map keys must be strings)", t))
		return
	}
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, t, path)
		return
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	d.entries(n, path, func(_, val *yaml.Node, name string) {
		elem := reflect.New(t.Elem()).Elem()
		d.value(val, elem, join(path, name))
		m.SetMapIndex(reflect.ValueOf(name).Convert(t.Key()), elem)
	})
	v.Set(m)
}

// entries calls each for every entry of mapping n whose key is a scalar and
// not a duplicate, recording errors for the other entries under path.
func (d *nodeDecoder) entries(n *yaml.Node, path string, each func(key, val *yaml.Node, name string)) {
	first := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		name, ok := d.keyName(key, path)
		if !ok {
			continue
		}
		if prev, dup := first[name]; dup {
			d.at(key, path, fmt.Sprintf("duplicate key %s (first at line %d)", quoted(name), prev.Line))
			continue
		}
		first[name] = key
		each(key, val, name)
	}
}

// keyName returns the text of mapping key n, following an alias, and
// whether n is usable as a key. It records an error when it is not.
func (d *nodeDecoder) keyName(n *yaml.Node, path string) (string, bool) {
	k := n
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	switch {
	case k.Kind != yaml.ScalarNode:
		d.at(n, path, "mapping keys must be scalars, not "+describe(k))
		return "", false
	case k.ShortTag() == "!!merge":
		d.at(n, path, "merge keys (<<) are not supported")
		return "", false
	}
	return k.Value, true
}

// scalar decodes scalar n into v, whose kind is string, bool, an integer or
// a float. v keeps its old value when n does not parse.
func (d *nodeDecoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	var msg string
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		msg = setBool(v, n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		msg = setInt(v, n.Value)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		msg = setUint(v, n.Value)
	case reflect.Float32, reflect.Float64:
		msg = setFloat(v, n.Value)
	}
	if msg != "" {
		d.at(n, path, msg)
	}
}

// setBool sets v to the YAML boolean text, returning an error message when
// text is not one.
func setBool(v reflect.Value, text string) string {
	switch text {
	case "true", "True", "TRUE":
		v.SetBool(true)
	case "false", "False", "FALSE":
		v.SetBool(false)
	default:
		return fmt.Sprintf("cannot parse %s as %s (want true or false)", quoted(text), v.Type())
	}
	return ""
}

// setInt sets v to the integer text, returning an error message when text
// is not an integer or does not fit in v.
func setInt(v reflect.Value, text string) string {
	i, err := strconv.ParseInt(text, 0, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return overflow(text, v.Type())
	case err != nil:
		return cannotParse(text, v.Type())
	case v.OverflowInt(i):
		return overflow(text, v.Type())
	}
	v.SetInt(i)
	return ""
}

// setUint sets v to the unsigned integer text, returning an error message
// when text is not an integer or does not fit in v.
func setUint(v reflect.Value, text string) string {
	u, err := strconv.ParseUint(text, 0, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return overflow(text, v.Type())
	case err != nil:
		if _, intErr := strconv.ParseInt(text, 0, 64); intErr == nil || errors.Is(intErr, strconv.ErrRange) {
			return overflow(text, v.Type()) // a negative number
		}
		return cannotParse(text, v.Type())
	case v.OverflowUint(u):
		return overflow(text, v.Type())
	}
	v.SetUint(u)
	return ""
}

// setFloat sets v to the float text, which may be a YAML infinity or NaN,
// returning an error message when text is not a number or does not fit in v.
func setFloat(v reflect.Value, text string) string {
	f, err := parseFloat(text, v.Type().Bits())
	switch {
	case errors.Is(err, strconv.ErrRange):
		return overflow(text, v.Type())
	case err != nil:
		return cannotParse(text, v.Type())
	}
	v.SetFloat(f)
	return ""
}

// parseFloat parses text as strconv.ParseFloat does, also accepting the
// YAML spellings of infinity and NaN.
func parseFloat(text string, bits int) (float64, error) {
	switch strings.ToLower(text) {
	case ".inf", "+.inf":
		return math.Inf(1), nil
	case "-.inf":
		return math.Inf(-1), nil
	case ".nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(text, bits)
}

// overflow returns the message for a number that does not fit in t.
func overflow(text string, t reflect.Type) string {
	return fmt.Sprintf("value %s overflows %s", truncated(text), t)
}

// cannotParse returns the message for text that is not a t.
func cannotParse(text string, t reflect.Type) string {
	return fmt.Sprintf("cannot parse %s as %s", quoted(text), t)
}

// mismatch records that node n cannot be decoded into a t at all.
func (d *nodeDecoder) mismatch(n *yaml.Node, t reflect.Type, path string) {
	d.at(n, path, fmt.Sprintf("cannot use %s as %s", describe(n), expected(t)))
}

// record notes in d.pos that the value at path was written at n.
func (d *nodeDecoder) record(n *yaml.Node, path string) {
	if d.pos != nil && path != "" {
		d.pos[path] = d.position(n)
	}
}

// position returns where n is in the file, or where the alias is that n is
// being decoded through.
func (d *nodeDecoder) position(n *yaml.Node) Position {
	if alias := d.expanding[n]; alias != nil {
		n = alias
	}
	return Position{File: d.file, Line: n.Line, Col: n.Column}
}

// at records an error at node n.
func (d *nodeDecoder) at(n *yaml.Node, path, msg string) {
	d.add(d.position(n), path, msg, nil)
}

// reportedError identifies an error for deduplication.
type reportedError struct {
	pos Position
	msg string
}

// add records an error, unless one with the same position and message has
// been recorded already.
func (d *nodeDecoder) add(p Position, path, msg string, cause error) {
	key := reportedError{p, msg}
	if d.reported[key] {
		return
	}
	d.reported[key] = true
	d.errs = append(d.errs, &Error{Pos: p, Path: path, Msg: msg, Err: cause})
}

// sorted returns the recorded errors in file order, or nil when there are none.
func (d *nodeDecoder) sorted() Errors {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return d.errs
}

// isNull reports whether n is a YAML null: empty, ~, null or !!null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isTextUnmarshaler reports whether a pointer to v implements
// encoding.TextUnmarshaler.
func isTextUnmarshaler(v reflect.Value) bool {
	return reflect.PointerTo(v.Type()).Implements(textUnmarshalType)
}

// describe names the kind of node n for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return "scalar " + quoted(n.Value)
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "unknown node"
}

// expected names what YAML a value of type t is written as, for error messages.
func expected(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case reflect.PointerTo(t).Implements(textUnmarshalType):
		return t.String()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "mapping"
	case reflect.Slice:
		return "sequence"
	case reflect.Pointer:
		return expected(t.Elem())
	}
	return t.String()
}

// join returns the path of field name inside the value at path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// quoted returns s as a Go string literal, shortened when it is long.
func quoted(s string) string {
	return strconv.Quote(truncated(s))
}

// truncated returns s, or its first 40 runes followed by "..." when it is
// longer, so that huge values do not flood error messages.
func truncated(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	return string([]rune(s)[:maxRunes]) + "..."
}

// structFields is the YAML view of a struct type.
type structFields struct {
	index map[string][]int // field index path by yaml tag name
	names []string         // sorted yaml tag names
}

// fieldsOf returns the fields of struct type t that have a yaml tag name,
// with the fields of a struct field tagged ",inline" as its own.
func fieldsOf(t reflect.Type) *structFields {
	if fs, ok := structFieldCache.Load(t); ok {
		return fs.(*structFields)
	}
	fs := &structFields{index: map[string][]int{}}
	add := func(name string, index []int) {
		if _, dup := fs.index[name]; !dup {
			fs.names = append(fs.names, name)
		}
		fs.index[name] = index
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct && f.IsExported() {
			for _, inner := range fieldsOf(f.Type).names {
				add(inner, append([]int{i}, fieldsOf(f.Type).index[inner]...))
			}
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		add(name, []int{i})
	}
	slices.Sort(fs.names)
	structFieldCache.Store(t, fs)
	return fs
}

// unknown returns the message for a key that names no field, suggesting
// the closest field name or, failing that, listing a few valid ones.
func (fs *structFields) unknown(name string) string {
	msg := "unknown field " + quoted(name)
	if best, ok := closest(name, fs.names); ok {
		return msg + " (did you mean " + strconv.Quote(best) + "?)"
	}
	if len(fs.names) > 0 && len(fs.names) <= maxListedFields {
		return msg + " (valid fields: " + strings.Join(fs.names, ", ") + ")"
	}
	return msg
}

// closest returns the name in names nearest to s by edit distance, ignoring
// case, if it is near enough to be a likely misspelling.
func closest(s string, names []string) (string, bool) {
	s = strings.ToLower(s)
	limit := min(maxSuggestDistance, len(s)/2)
	best, bestDist := "", limit+1
	for _, name := range names {
		if dist := editDistance(s, strings.ToLower(name), limit); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	return best, best != ""
}

// editDistance returns the optimal string alignment distance between a and
// b (insertions, deletions, substitutions and swaps of adjacent bytes), or
// limit+1 when it is certainly more than limit.
func editDistance(a, b string, limit int) int {
	if len(a)-len(b) > limit || len(b)-len(a) > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// DecodeYAML strictly decodes data, read from file, onto out (a non-nil
// pointer to a struct), with the same rules and messages as the config
// itself: unknown keys with suggestions, every error at once as
// file:line:col. It returns nil or Errors. Tools with their own YAML files
// (the game-day scenarios) use it.
func DecodeYAML(file string, data []byte, out any) error {
	if errs := decode(file, data, out, nil); errs != nil {
		return errs
	}
	return nil
}

// DecodeYAMLPositions is DecodeYAML that also returns where each value it
// set was written, by field path ("descriptors[0].rate_limit.unit"), so the
// caller can place its own validation errors at file:line:col.
func DecodeYAMLPositions(file string, data []byte, out any) (Positions, error) {
	pos := Positions{}
	if errs := decode(file, data, out, pos); errs != nil {
		return pos, errs
	}
	return pos, nil
}
