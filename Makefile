# Vigil. `make demo` runs the main job; `make test` runs every test.
GO        ?= go
BIN       := bin/vigil
PKGS      := ./...
BENCHTIME ?= 1s
BENCHCOUNT ?= 1

.PHONY: all build test bench generate lint demo eval-scenarios notebooks deps clean

all: build

# vsim is the scenarios' in-container program; vigil looks for it beside itself.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN) ./cmd/vigil
	CGO_ENABLED=0 $(GO) build -o bin/vsim ./datasets/cmd/vsim

# Tests need root for BPF and a Docker Engine; without them the BPF and Docker
# tests skip unless VIGIL_REQUIRE_BPF=1 / VIGIL_REQUIRE_DOCKER=1 (CI sets both).
test: deps lint
	$(GO) test -count=1 -timeout 25m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) $(PKGS)

# Regenerates the bpf2go output from collector/bpf (needs clang, libbpf-dev).
generate: deps
	$(GO) generate ./collector/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Debian packages the BPF build, the scenario images and the notebooks need.
deps:
	bash scripts/deps.sh

# The README's main job: needs root, Docker and BPF; says so and runs a
# SYNTHETIC replay otherwise. Output goes to ./vigil-demo.
demo: deps build
	./$(BIN) demo

# Detection quality on the scenario dataset with a time split (about 75 min;
# TRAIN, TEST, ATTACK, PARALLEL and OUT override the defaults).
eval-scenarios: deps build
	bash scripts/eval-scenarios.sh

# Executes notebooks/*.ipynb headless on inputs generated here (CI runs it).
notebooks: deps build
	bash scripts/notebooks.sh

clean:
	rm -rf bin vigil-data
