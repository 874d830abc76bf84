package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ftwFile is one go-ftw test file (github.com/coreruleset/ftw-tests-schema):
// the tests of one CRS rule.
type ftwFile struct {
	RuleID int       `yaml:"rule_id"`
	Tests  []ftwTest `yaml:"tests"`
}

type ftwTest struct {
	TestID int        `yaml:"test_id"`
	Desc   string     `yaml:"desc"`
	Stages []ftwStage `yaml:"stages"`
}

type ftwStage struct {
	Input  ftwInput  `yaml:"input"`
	Output ftwOutput `yaml:"output"`
}

type ftwInput struct {
	Method              string            `yaml:"method"`
	URI                 string            `yaml:"uri"`
	Version             string            `yaml:"version"`
	Headers             map[string]string `yaml:"headers"`
	Data                string            `yaml:"data"`
	EncodedRequest      string            `yaml:"encoded_request"`
	AutocompleteHeaders *bool             `yaml:"autocomplete_headers"`
}

type ftwOutput struct {
	Log    ftwLog `yaml:"log"`
	Status int    `yaml:"status"`
}

type ftwLog struct {
	ExpectIDs   []int `yaml:"expect_ids"`
	NoExpectIDs []int `yaml:"no_expect_ids"`
}

// overrides are CRS's expected-result changes for Coraza
// (coraza-overrides.yaml), by rule and test id.
type overrides map[[2]int]ftwOutput

type overrideFile struct {
	TestOverrides []struct {
		RuleID  int       `yaml:"rule_id"`
		TestIDs []int     `yaml:"test_ids"`
		Output  ftwOutput `yaml:"output"`
	} `yaml:"test_overrides"`
}

// loadOverrides reads path; a missing file is no overrides.
func loadOverrides(path string) (overrides, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return overrides{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f overrideFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	o := overrides{}
	for _, t := range f.TestOverrides {
		for _, id := range t.TestIDs {
			o[[2]int{t.RuleID, id}] = t.Output
		}
	}
	return o, nil
}

// stage is one request of the regression suite with what it expects.
type stage struct {
	Family string // the rule file's folder: REQUEST-942-APPLICATION-ATTACK-SQLI
	Rule   int
	Test   int
	Index  int
	Input  ftwInput
	Expect ftwLog
}

// Name is "942100-1" (a test's first stage) or "942100-1/2".
func (s stage) Name() string {
	if s.Index == 0 {
		return fmt.Sprintf("%d-%d", s.Rule, s.Test)
	}
	return fmt.Sprintf("%d-%d/%d", s.Rule, s.Test, s.Index)
}

// loadStages reads every *.yaml under dir/tests (or dir itself when it
// has no tests folder), in path order, with the overrides applied.
func loadStages(dir string, ov overrides) ([]stage, error) {
	root := filepath.Join(dir, "tests")
	if _, err := os.Stat(root); err != nil {
		root = dir
	}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []stage
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f ftwFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		family := filepath.Base(filepath.Dir(p))
		for _, t := range f.Tests {
			for i, st := range t.Stages {
				exp := st.Output.Log
				if o, ok := ov[[2]int{f.RuleID, t.TestID}]; ok && (len(o.Log.ExpectIDs) > 0 || len(o.Log.NoExpectIDs) > 0) {
					exp = o.Log
				}
				out = append(out, stage{Family: family, Rule: f.RuleID, Test: t.TestID, Index: i, Input: st.Input, Expect: exp})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no go-ftw tests", root)
	}
	return out, nil
}

// request builds the HTTP request a stage sends, as go-ftw does: its
// method (GET), URI (/), headers and data; with autocomplete_headers (the
// default) a Content-Length for data and Connection: close. An
// encoded_request is the raw request, base64-encoded, read with
// net/http's parser; one it cannot read is an error.
func (in ftwInput) request() (*http.Request, []byte, error) {
	if in.EncodedRequest != "" {
		raw, err := base64.StdEncoding.DecodeString(in.EncodedRequest)
		if err != nil {
			return nil, nil, fmt.Errorf("encoded_request: %w", err)
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return nil, nil, fmt.Errorf("encoded_request: %w", err)
		}
		var body bytes.Buffer
		if r.Body != nil {
			_, _ = body.ReadFrom(r.Body)
		}
		return r, body.Bytes(), nil
	}
	r := &http.Request{Method: in.Method, RequestURI: in.URI, Proto: in.Version, Header: http.Header{}}
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	if r.RequestURI == "" {
		r.RequestURI = "/"
	}
	for k, v := range in.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			r.Host = v
			continue
		}
		// Header names are kept as the test spells them: some rules look
		// at their case.
		r.Header[k] = append(r.Header[k], v)
	}
	body := []byte(in.Data)
	if in.AutocompleteHeaders == nil || *in.AutocompleteHeaders {
		if len(body) > 0 && len(r.Header.Values("Content-Length")) == 0 {
			r.Header.Set("Content-Length", fmt.Sprint(len(body)))
		}
		if len(r.Header.Values("Connection")) == 0 {
			r.Header.Set("Connection", "close")
		}
	}
	return r, body, nil
}
