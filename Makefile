# microlens - one entry point for everything: build, demo, test, fuzz.
# CMake does the compiling; objects live in build/<variant>/.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

RELEASE := build/release
ASAN := build/asan
FUZZDIR := build/fuzz
MICROLENS := $(RELEASE)/microlens

.PHONY: all build demo test fuzz bench clean deps

all: build

deps:
	@scripts/install-deps.sh build

build: deps
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS) --target microlens_cli

# The main job on the built-in demo data: the public ECAM cohort (875 infants' stool
# samples, BIOM 2.1 HDF5 + QIIME 2 metadata) and a synthetic cohort made by `synth`.
demo:
	@scripts/install-deps.sh demo
	@$(MAKE) --no-print-directory build
	@scripts/fetch-ecam.sh data/ecam
	@mkdir -p out/demo
	@echo "== microlens data inspect (ECAM, delivery mode by infant) =="
	@$(MICROLENS) data inspect data/ecam/feature-table.biom \
	    --labels data/ecam/sample-metadata.tsv --label-col delivery --group-col studyid \
	    | tee out/demo/ecam-inspect.txt
	@$(MICROLENS) data inspect data/ecam/feature-table.biom --quiet \
	    --labels data/ecam/sample-metadata.tsv --label-col delivery --group-col studyid \
	    --json > out/demo/ecam-inspect.json
	@echo "== microlens evaluate (ECAM delivery mode: CLR + logistic regression, 5-fold CV grouped by infant) =="
	@$(MICROLENS) evaluate --features data/ecam/feature-table.biom --labels data/ecam/sample-metadata.tsv \
	    --label-col delivery --group-col studyid --model logreg --transform clr --cv 5 \
	    --folds-out out/demo/ecam-folds.csv --save-model out/demo/ecam-logreg \
	    --report out/demo/ecam-evaluate.html | tee out/demo/ecam-evaluate.txt
	@echo "== microlens synth + data inspect (synthetic cohort) =="
	@$(MICROLENS) synth --out out/demo/synthetic --seed 42
	@$(MICROLENS) data inspect out/demo/synthetic/table.tsv \
	    --labels out/demo/synthetic/labels.csv --json --quiet > out/demo/synthetic-inspect.json
	@echo "== microlens train (small set transformer on the synthetic cohort; MLP on ECAM CLR features) =="
	@rm -rf out/demo/runs
	@$(MICROLENS) train --table out/demo/synthetic/table.tsv --labels out/demo/synthetic/labels.csv \
	    --model settransformer --otu-vectors out/demo/synthetic/otu_vectors.safetensors \
	    --d-model 20 --layers 3 --heads 5 --ff 80 --max-otus 256 --epochs 20 --batch 16 --lr 3e-4 \
	    --eval-every 30 --checkpoint-every 60 --keep 2 --collect all --collect-every 5 \
	    --out out/demo/runs/synth-settransformer
	@$(MICROLENS) train --table data/ecam/feature-table.biom --labels data/ecam/sample-metadata.tsv \
	    --label-col delivery --group-col studyid --model mlp --hidden 64 --epochs 10 --batch 32 \
	    --lr 3e-4 --eval-every 25 --checkpoint-every 50 --keep 2 --out out/demo/runs/ecam-mlp
	@$(MICROLENS) verify out/demo/runs/ecam-mlp/checkpoints/$$(ls out/demo/runs/ecam-mlp/checkpoints | tail -1)
	@echo "== microlens train --lora (LoRA fine-tune of that set transformer, every collector on) =="
	@$(MICROLENS) train --table out/demo/synthetic/table.tsv --labels out/demo/synthetic/labels.csv \
	    --model settransformer --otu-vectors out/demo/synthetic/otu_vectors.safetensors \
	    --d-model 20 --layers 3 --heads 5 --ff 80 --max-otus 256 \
	    --init out/demo/runs/synth-settransformer/checkpoints/$$(ls out/demo/runs/synth-settransformer/checkpoints | tail -1)/model.safetensors \
	    --lora r=4,alpha=8,targets=q,v --epochs 10 --batch 16 --lr 1e-3 --eval-every 15 \
	    --checkpoint-every 20 --collect all --collect-every 2 --snapshot lora,grads --snapshot-every 20 \
	    --out out/demo/runs/synth-lora
	@echo "== microlens report (the LoRA fine-tune: summary, plots, every diagnostic) =="
	@$(MICROLENS) report out/demo/runs/synth-lora --out out/demo/report.md
	@$(MICROLENS) report out/demo/runs/synth-lora --out out/demo/report.json
	@$(MICROLENS) report out/demo/runs/synth-settransformer --compare out/demo/runs/synth-lora \
	    --out out/demo/compare.html
	@echo "== microlens export (the same run for TensorBoard and numpy) =="
	@rm -rf out/demo/tensorboard out/demo/npy
	@$(MICROLENS) export out/demo/runs/synth-lora --format tensorboard --out out/demo/tensorboard
	@$(MICROLENS) export out/demo/runs/synth-lora --format npy --out out/demo/npy
	@echo "== microlens analyze (the same run as text) =="
	@$(MICROLENS) analyze out/demo/runs/synth-lora | tee out/demo/analyze.txt
	@$(MICROLENS) report out/demo/runs/synth-lora --out out/demo/report.html
	@echo
	@echo "demo outputs: out/demo/ (ecam-inspect.txt/.json, ecam-evaluate.txt/.html, ecam-folds.csv,"
	@echo "  ecam-logreg/ (model bundle), synthetic/, synthetic-inspect.json, runs/ (training runs:"
	@echo "  run.sqlite + verified checkpoints), tensorboard/, npy/, analyze.txt, report.md/.json,"
	@echo "  compare.html)"
	@echo "HTML report of the demo run: out/demo/report.html"

# Every test, under AddressSanitizer + UndefinedBehaviorSanitizer. The optimised build comes
# first: -O2 sees warnings (maybe-uninitialized, format-truncation) that -O0 does not.
test:
	@scripts/install-deps.sh test
	@scripts/tensorboard-venv.sh build/venv-tb
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS)
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DML_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS)

# Each libFuzzer target for FUZZ_SECONDS, starting from (and adding to) a copy of its corpus.
fuzz:
	@scripts/install-deps.sh test
	@scripts/fuzz.sh $(FUZZDIR) $(FUZZ_SECONDS)

# Benchmarks: each bench/*.sh prints ratios against its peer measured in the same run.
bench:
	@scripts/install-deps.sh test
	@$(MAKE) --no-print-directory build
	@for b in bench/*.sh; do [ -e "$$b" ] || continue; echo "== $$b"; bash "$$b" || exit 1; done

clean:
	rm -rf build
