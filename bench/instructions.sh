#!/usr/bin/env bash
# Instructions per element of each kernel's dispatched entry point, counted
# by callgrind: a speed measure that does not move with machine noise.
#
# For each kernel of bench/examples/instructions.rs, two runs under
# `valgrind --tool=callgrind`: R = 1 and R = 21 calls on 4096 elements. All
# but the 20 extra calls is the same in both runs (R is passed as "01" and
# "21", so even parsing it costs the same), so
#     Ir/element = (Ir(21) − Ir(1)) / (20 · 4096)
# with the call's fixed cost (dispatch, length checks) spread over its 4096
# elements. Ir/call = (Ir(21) − Ir(1)) / 20 must be a whole number: the
# script fails if it is not (a call whose count varies is not measured).
#
# Valgrind has no AVX-512: under it the dispatched tier is AVX2 on an AVX-512
# machine. FUSED_OPTIM_TIER=portable (or avx2) forces a tier.
#
# usage: bench/instructions.sh [--bin BINARY] [--tree DIR] [KERNEL ...]
#   --bin   an already built `instructions` program (default: build this
#           tree's, `cargo build --release -p fused-optim-bench --example instructions`)
#   --tree  the checkout the program was built from, for the commit in the header
#           (default: this one)
#   KERNEL  only these (default: every kernel, `instructions --list`)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
tree="$root"
kernels=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --tree) tree="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) kernels+=("$1"); shift ;;
    esac
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --quiet --locked --release -p fused-optim-bench --example instructions)
    bin="$(cd "$root" && cargo metadata --format-version 1 --no-deps --locked \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/instructions"
fi
[ ${#kernels[@]} -gt 0 ] || mapfile -t kernels < <("$bin" --list)

n=4096
# Written with the same number of digits: parsing "1" costs fewer instructions than "21".
short=01
long=21
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# Ir of one run, and the tier the program reports.
ir() {
    local tier
    tier="$(valgrind --quiet --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2")"
    echo "$(awk '/^(summary|totals):/ { print $2; exit }' "$out") ${tier#tier }"
}

commit="$(git -C "$tree" rev-parse --short HEAD)"
git -C "$tree" diff --quiet HEAD -- kernels src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit (with uncommitted changes)"
rows=()
tiers=""
for k in "${kernels[@]}"; do
    read -r a tier_a <<<"$(ir "$k" "$short")"
    read -r b tier_b <<<"$(ir "$k" "$long")"
    tiers="$tiers $tier_a $tier_b"
    delta=$((b - a))
    calls=$((10#$long - 10#$short))
    if [ $((delta % calls)) -ne 0 ]; then
        echo "$k: Ir(21) − Ir(1) = $delta is not a multiple of $calls: the calls' counts differ" >&2
        exit 1
    fi
    rows+=("$(awk -v k="$k" -v d="$delta" -v c="$calls" -v n="$n" \
        'BEGIN { printf "%-42s %9.4f %10d\n", k, d / (c * n), d / c }')")
done
tier="$(tr ' ' '\n' <<<"$tiers" | sed '/^$/d' | sort -u | paste -sd, -)"

echo "# callgrind instructions per element, dispatched entry points, $n elements per call"
echo "# Ir/element = (Ir(21) - Ir(1)) / (20 * $n); Ir/call = (Ir(21) - Ir(1)) / 20"
if [ -n "${FUSED_OPTIM_TIER:-}" ]; then
    echo "# commit $commit; tier $tier, forced with FUSED_OPTIM_TIER=$FUSED_OPTIM_TIER"
else
    echo "# commit $commit; tier $tier, the dispatched one (valgrind has no AVX-512: under it the best tier is AVX2)"
fi
echo "# $(valgrind --version), $(rustc --version | cut -d' ' -f1-2), release profile, x86-64 baseline target"
printf '%-42s %9s %10s\n' kernel Ir/elem Ir/call
printf '%s\n' "${rows[@]}"
