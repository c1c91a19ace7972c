#!/usr/bin/env bash
# Fuzzes the model loader and the recipe parser with afl-fuzz for a bounded time each; exits 1 when afl found a
# crash (an exception other than a CompressionException with CMP codes) or a hang, after replaying each finding.
#
#   tests/Compression.Fuzz/run-fuzz.sh [seconds per target (60)] [target...(model recipe)]
#
# Needs afl++ (Debian: apt-get install afl++) and the repo's dotnet tools (dotnet tool restore: sharpfuzz).
# Findings and afl's state go to out/fuzz/<target>/ (FUZZ_OUT to change); see docs/fuzzing.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model recipe)
out=${FUZZ_OUT:-$root/out/fuzz}
plain=$out/plain
bin=$out/bin

command -v afl-fuzz >/dev/null || { echo "afl-fuzz is not installed (apt-get install afl++)." >&2; exit 2; }
cd "$root"
dotnet tool restore >/dev/null

# A fresh copy each time: sharpfuzz instruments in place and refuses an assembly it already instrumented. The plain
# copy replays findings: instrumented code outside afl (or SharpFuzz's own runner) has no coverage map to write to.
rm -rf "$plain" "$bin"
dotnet publish tests/Compression.Fuzz -c Release -o "$plain" --nologo -v quiet
cp -r "$plain" "$bin"
# Coverage comes from our code and the two parsers below it, so mutations that reach new protobuf or YAML states count.
for assembly in Compression.Core YamlDotNet Google.Protobuf; do
  dotnet sharpfuzz "$bin/$assembly.dll" >/dev/null
done

# Settings for a shared CI machine: no CPU-governor or core-pattern checks (we do not own the machine), no
# pinning to a core another job may be using, no UI, and a dotnet process (not an afl-instrumented binary).
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1
# Quick calibration: a dotnet target's coverage varies run to run (JIT, GC), and afl would otherwise re-run seeds to learn it.
export AFL_FAST_CAL=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The model target writes and saves (with fsync) a model per input: keep that in memory where there is /dev/shm.
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm

status=0
for target in "${targets[@]}"; do
  work=$out/$target
  rm -rf "$work"
  mkdir -p "$work"
  dotnet "$plain/Compression.Fuzz.dll" seeds "$target" "$work/seeds"
  echo "Fuzzing $target for $seconds s ($(ls "$work/seeds" | wc -l) seeds)"
  # -t: a parse of a small input takes milliseconds; 10 s leaves room for a loaded machine and a restarted dotnet.
  afl-fuzz -i "$work/seeds" -o "$work/findings" -x "tests/Compression.Fuzz/$target.dict" -t 10000 -m none -V "$seconds" \
    -- "$(command -v dotnet)" "$bin/Compression.Fuzz.dll" "$target" > "$work/afl.log" 2>&1 || { tail -30 "$work/afl.log"; status=2; continue; }
  stats=$work/findings/default/fuzzer_stats
  echo "  $(grep -E '^(execs_done|corpus_count|saved_crashes|saved_hangs) ' "$stats" | awk '{print $1 "=" $3}' | tr '\n' ' ')"
  findings=$(find "$work/findings/default/crashes" "$work/findings/default/hangs" -name 'id:*' 2>/dev/null | sort)
  if [ -n "$findings" ]; then
    echo "afl found $(echo "$findings" | wc -l) crash(es) or hang(s) in $target; replayed without instrumentation:"
    # shellcheck disable=SC2086
    dotnet "$plain/Compression.Fuzz.dll" replay "$target" $findings || true
    status=1
  fi
done
exit $status
