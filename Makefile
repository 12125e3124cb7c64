# ledgerdesk — every target fans out over the modules listed in go.work.
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
DATA ?= ./data
GOTEST_FLAGS ?= -count=1 -timeout 12m

.PHONY: run build test race lint fmt bench tidy fuzz

run: ## start the whole system on the embedded JetStream default
	go run ./services/cmd/ledgerdesk run --data $(DATA) --seed-config deploy/demo-config

build:
	mkdir -p bin && go build -o bin/ledgerdesk ./services/cmd/ledgerdesk

test: ## every module's tests (needs nothing but Go); modules without packages yet are skipped; then each fuzz test briefly
	@set -e; for m in $(MODULES); do \
	  if [ -z "$$(cd $$m && go list ./... 2>/dev/null)" ]; then echo "== $$m: no packages yet"; continue; fi; \
	  echo "== $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_BRIEF)

# The fuzz tests, as <package dir>:<Fuzz function>; their seeds also run in every go test.
# A new input is minimised in at most 200 runs, not a minute: brief runs would do nothing else.
# make test's brief run counts executions, not seconds: a duration races go test's fuzz
# coordinator, which fails a target with "context deadline exceeded" when a starved worker is
# still mid-call as the time runs out (it failed CI so on 2 busy cores), a count has no deadline.
FUZZTIME_BRIEF ?= 500x
FUZZ_TARGETS := events:FuzzPayloadDecodingMatchesEncodingJSON services/inbox:FuzzFromNATS services/inbox:FuzzDecodeData services/inbox:FuzzAlertWebhooks
FUZZTIME ?= 1m
fuzz: ## each fuzz test for FUZZTIME (default 1m, or a count such as 500x; make test runs 500 inputs each)
	@set -e; for t in $(FUZZ_TARGETS); do dir=$${t%%:*}; fn=$${t##*:}; echo "== fuzz $$fn ($$dir, $(FUZZTIME))"; \
	  (cd $$dir && go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x .); done

# The modules whose concurrent code runs in-process (test/ drives the binary as a subprocess).
RACE_MODULES := events projections services

race: ## the in-process modules' tests under the race detector, -short (watermill's conformance suite then sends 100 messages, not 5,000); CI runs it after test
	@set -e; for m in $(RACE_MODULES); do echo "== $$m (race)"; (cd $$m && go test -race -short $(GOTEST_FLAGS) ./...); done

lint:
	@set -e; for m in $(MODULES); do \
	  if [ -n "$$(cd $$m && go list ./... 2>/dev/null)" ]; then (cd $$m && go vet ./...); fi; done
	@test -z "$$(gofmt -l $(MODULES))" || (gofmt -l $(MODULES); echo "gofmt needed"; exit 1)

fmt:
	gofmt -w $(MODULES)

QUICK ?= false
BENCH_ARGS ?=
bench: ## benchmark suite (test/bench, tag bench): prints the table, writes bench-results.json; QUICK=1 for small sizes; BENCH_ARGS="-raw-n=N -intake-n=N"
	cd test && go test -tags bench -run TestBenchSuite -count=1 -timeout 30m -v ./bench -args -quick=$(QUICK) $(BENCH_ARGS)

tidy:
	@set -e; for m in $(MODULES); do (cd $$m && go mod tidy); done
