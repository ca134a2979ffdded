#!/bin/sh
# Measures the provider client's overhead per request against a loopback server and the
# overlap of requests in flight. Usage: benchmarks/provider_overhead.sh [BUILD_DIR]
# (default build-bench/). Builds only what the benchmark needs; no network, no key.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build-bench"}
cmake -S "$root" -B "$build" -G Ninja -DKOPT_BUILD_BENCHMARKS=ON -DKOPT_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" kopt_provider_bench >/dev/null
nproc | sed 's/^/cores: /'
"$build/benchmarks/kopt_provider_bench"
