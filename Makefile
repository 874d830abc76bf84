GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
# STATICCHECK is run with go run at a pinned version, so CI installs nothing.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build release test lint bench fuzz soak check-examples

# VERSION is stamped into release builds (abuseguard version prints it).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/abuseguard/abuseguard/internal/cli.version=$(VERSION)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

build:
	$(GO) build -o bin/abuseguard ./cmd/abuseguard

# release cross-compiles static binaries (CGO off, paths trimmed, version
# stamped) for PLATFORMS into dist/, with their SHA256SUMS.
release:
	rm -rf dist && mkdir -p dist
	set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o dist/abuseguard-$(VERSION)-$$os-$$arch ./cmd/abuseguard; done
	cd dist && sha256sum abuseguard-* > SHA256SUMS

# soak runs serve under steady load with a reload every minute for
# SOAKTIME (not in CI): RSS and goroutines must stay flat and no request
# may be dropped (docs/reliability.md).
SOAKTIME ?= 30m
soak:
	$(GO) run ./tools/soak -duration $(SOAKTIME)

# test is what CI runs: lint, vet, every test, then the race detector over
# the packages with shared state (the flood test is skipped there with -short).
test: lint
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short ./internal/engine/... ./internal/limit/... ./internal/store/... ./internal/detect/... ./internal/decision/... ./internal/policy/... ./internal/replay/... ./internal/front/... ./internal/serve/... ./internal/gameday/...

# lint fails on unformatted files (listing them), on a go.mod or go.sum that
# go mod tidy would change (printing the diff), on any staticcheck finding,
# and on a fuzz target that the fuzz recipe below does not run.
lint:
	@unformatted=$$($(GOFMT) -l .); if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) run $(STATICCHECK) ./...
	.ci/check-fuzz-targets

# bench reproduces docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench 'Keyed' -benchtime 3000000x -count 6 ./internal/store/memory
	$(GO) test -run '^$$' -bench 'BytesPerKey' -benchtime 1x -count 3 ./internal/store/memory
	$(GO) test -run '^$$' -bench 'Decision' -benchmem -count 6 ./internal/engine
	$(GO) test -run '^$$' -bench 'BytesPerEntity' -benchtime 1x -count 2 ./internal/engine
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./internal/decision ./internal/policy
	$(GO) test -run Flood -count=1 -v ./internal/engine
	$(GO) test -run '^$$' -bench 'ReplayCombined|Feed|ParseCombined' -benchmem -count 3 ./internal/replay
	$(GO) test -run '^$$' -bench CanonicalPath -benchmem -count 6 ./internal/request
	$(GO) run ./tools/proxybench -duration 4s -rounds 5
	$(GO) test -run '^$$' -bench BenchmarkGuards -benchtime 20000x -count 6 ./internal/engine
	$(GO) test -run '^$$' -bench BenchmarkUpstreamGuards -benchtime 20000x -count 6 ./internal/front/proxy
	$(GO) test -run '^$$' -bench . -benchtime 200000x -count 3 ./internal/guard/...
	$(GO) test -run '^$$' -bench 'Decide' -benchtime 2s -count 3 ./internal/store/redis
	$(GO) test -run '^$$' -bench 'Client' -benchtime 2s -count 5 ./internal/store/redis
	$(GO) test -run '^$$' -bench 'ShouldRateLimit' -benchtime 2s -count 3 ./internal/front/rls
	$(GO) run ./tools/grpcbench -duration 5s -rounds 3
	$(GO) test -run '^$$' -bench 'ContentGuards' -benchmem -count 6 ./internal/engine
	$(GO) test -run '^$$' -bench 'Inspect' -benchmem -count 6 ./internal/guard/waf

# fuzz runs every fuzz target for FUZZTIME each; .ci/check-fuzz-targets
# (in lint) fails when a func FuzzX in the repository is missing here.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzClientIP$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzRouteTemplate$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzCanonicalPath$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzReadBodyFields$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzCanonicalPathRouter$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzIsJWT$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzAuthorizationKey$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzGraphQLShapeOf$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzFieldWords$$' -fuzztime $(FUZZTIME) ./internal/detect
	$(GO) test -run '^$$' -fuzz '^FuzzMeasureGraphQL$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzInferredSubject$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzParseAgent$$' -fuzztime $(FUZZTIME) ./internal/request
	$(GO) test -run '^$$' -fuzz '^FuzzCost$$' -fuzztime $(FUZZTIME) ./internal/guard/graphqlcost
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzParseCombined$$' -fuzztime $(FUZZTIME) ./internal/replay
	$(GO) test -run '^$$' -fuzz '^FuzzParseEnvoy$$' -fuzztime $(FUZZTIME) ./internal/replay
	$(GO) test -run '^$$' -fuzz '^FuzzParseJSON$$' -fuzztime $(FUZZTIME) ./internal/replay
	$(GO) test -run '^$$' -fuzz '^FuzzParseSync$$' -fuzztime $(FUZZTIME) ./internal/store/redis
	$(GO) test -run '^$$' -fuzz '^FuzzGraphQL$$' -fuzztime $(FUZZTIME) ./internal/sample
	$(GO) test -run '^$$' -fuzz '^FuzzTemplate$$' -fuzztime $(FUZZTIME) ./internal/routelearn
	$(GO) test -run '^$$' -fuzz '^FuzzParseSolution$$' -fuzztime $(FUZZTIME) ./pkg/challenge
	$(GO) test -run '^$$' -fuzz '^FuzzParseWWWAuthenticate$$' -fuzztime $(FUZZTIME) ./pkg/challenge
	$(GO) test -run '^$$' -fuzz '^FuzzCheckPass$$' -fuzztime $(FUZZTIME) ./internal/challenge
	$(GO) test -run '^$$' -fuzz '^FuzzRedeem$$' -fuzztime $(FUZZTIME) ./internal/challenge
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/front/rls
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./internal/front/forwardauth
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) ./internal/front/extauthz
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/guard/openapi
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) ./internal/guard/openapi
	$(GO) test -run '^$$' -fuzz '^FuzzInspect$$' -fuzztime $(FUZZTIME) ./internal/guard/waf

check-examples: build
	./bin/abuseguard check examples/*.yaml
