#!/usr/bin/env bash
# Benchmarks `cargo xtask ci fast` (warm caches) against
#   1. the same commands run one after the other from a plain shell script, and
#   2. the usual sequence: fmt check && clippy && cargo test --test-threads=1,
# and prints the two ratios (targets: <= 1.05 and <= 0.8). Needs hyperfine
# (`apt-get install hyperfine`). Run from anywhere in the repository; noise
# from other work on the machine shows in the ± columns.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
runs=${RUNS:-10}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The commands `ci fast` runs (see `cargo xtask ci fast --plan`), one after the other. The
# linters come from the runner's own venv, so run `cargo xtask lint-ci` once first.
lint=target/xtask/tools/lint-ci/bin
threads=$((2 * $(nproc)))
same_commands="CARGO_TERM_COLOR=never sh -c 'cargo fmt --all -- --check --color never \
 && $lint/actionlint -no-color && $lint/zizmor --offline --color never .github \
 && cargo clippy --locked --workspace --all-targets --all-features -- -D warnings \
 && cargo nextest run --locked --workspace --all-features --profile default --test-threads $threads \
 && cargo test --locked --workspace --all-features --doc'"
usual='sh -c "cargo fmt --all -- --check \
 && cargo clippy --workspace --all-targets --all-features -- -D warnings \
 && cargo test --workspace -- --test-threads=1"'

# Warm every cache each variant uses (they build different feature sets).
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$out/r.json" \
  -n 'cargo xtask ci fast' 'cargo xtask ci fast' \
  -n 'same commands, plain script' "$same_commands" \
  -n 'usual sequence' "$usual" >/dev/null

python3 - "$out/r.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
xt, same, usual = (r[k] for k in ("cargo xtask ci fast", "same commands, plain script", "usual sequence"))
for name, x in (("cargo xtask ci fast", xt), ("same commands, plain script", same), ("usual sequence", usual)):
    print(f"{name:30} mean {x['mean']:7.3f} s  ± {x['stddev']:.3f}  median {x['median']:.3f} s")
print(f"runner overhead  (xtask / same commands):  {xt['mean'] / same['mean']:.3f}  (target <= 1.05)")
print(f"against usual    (xtask / usual sequence): {xt['mean'] / usual['mean']:.3f}  (target <= 0.8)")
PY
