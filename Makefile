# Thin front door. `make demo` and `make test` work on a fresh Debian 12 machine.
JOBS ?= $(shell nproc)
RELEASE_DIR := build/release
ASAN_DIR := build/asan
CMAKE_GEN := -G Ninja

.PHONY: deps release asan fuzz demo test soak format clean

deps:
	bash scripts/install-deps

# Normal optimized build, warnings are errors (what users and benchmarks run).
release: deps
	cmake -S . -B $(RELEASE_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNOD_WERROR=ON
	cmake --build $(RELEASE_DIR) -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build used by the test suite.
asan: deps
	cmake -S . -B $(ASAN_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNOD_WERROR=ON -DSYNOD_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)

# libFuzzer run of the transport decode path (clang), ~20 s from the committed seed corpus.
# clang does not know GCC's -Wshadow=local, hence -Wno-unknown-warning-option.
FUZZ_DIR := build/fuzz
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNOD_FUZZ=ON \
	  -DCMAKE_CXX_FLAGS=-Wno-unknown-warning-option
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target synod-transport-fuzz
	mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_DIR)/transport/synod-transport-fuzz -max_total_time=20 -max_len=65536 $(FUZZ_DIR)/corpus transport/fuzz_corpus

demo: release
	bash scripts/demo $(RELEASE_DIR)

# Everything under ASan/UBSan, then the multi-process cluster tests once more
# at full speed: timing-dependent bugs show up in one build and not the other
# (a session-nonce collision was seen only in the normal build). The tests that
# exhaust file descriptors run here too: under the sanitizers they skip (the
# sanitizer runtime itself needs descriptors).
test: release asan fuzz
	cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) -LE soak --timeout 900
	cd $(RELEASE_DIR) && ctest --output-on-failure -R '^cluster_|OutOfDescriptors' -LE soak --timeout 900

soak: release
	cd $(RELEASE_DIR) && ctest --output-on-failure -j $(JOBS) -L soak

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
