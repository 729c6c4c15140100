#!/bin/bash
# Generates the real-background training pool: per background, 24 implanted studies + the
# original (train), 2 implanted (val) and 6 implanted (calibration, seed 400); then
# template-synthetic studies (train, val, calibration, test), then the robustness sets.
# Needs ../shared.
# Usage: bash tools/realbg/gen.sh   (DATA=dir, STROKESEG=binary to override)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${STROKESEG:-$ROOT/target/release/strokeseg}
D=${DATA:-$ROOT/data}
LIST=$ROOT/tools/realbg/backgrounds.csv
mkdir -p "$D"
tail -n +2 $LIST | while IFS=, read -r path kind truth exclude id; do
  hdr="path,kind,truth,exclude,id"
  printf '%s\n%s,%s,%s,%s,%s\n' "$hdr" "$(realpath -m "$ROOT/tools/realbg/$path")" "$kind" "$truth" "${exclude:+$(realpath -m "$ROOT/tools/realbg/$exclude")}" "$id" > $D/bg-$id.csv
  $B -q synth --implant-list $D/bg-$id.csv --out $D/implant/$id --n 24 --seed 100 && echo "done train $id"
  $B -q synth --implant-list $D/bg-$id.csv --out $D/implant-val/$id --n 2 --seed 200 --no-original && echo "done val $id"
  $B -q synth --implant-list $D/bg-$id.csv --out $D/implant-cal/$id --n 6 --seed 400 --no-original && echo "done cal $id"
done
for s in a b c d e; do
  $B -q synth --out $D/synth/site-$s --n 20 --seed 100 --site site-$s && echo "done synth $s"
  $B -q synth --out $D/synth-val/site-$s --n 2 --seed 200 --site site-$s && echo "done synth-val $s"
  $B -q synth --out $D/synth-cal/site-$s --n 6 --seed 400 --site site-$s && echo "done synth-cal $s"
  $B -q synth --out $D/synth-test/site-$s --n 12 --seed 300 --site site-$s && echo "done synth-test $s"
done
# The robustness sets of issue 14 (docs/experiments.md §4, sixteenth session): random sites
# (seed 903) and the site-a protocol with one thing changed (tools/realbg/sites/*.toml).
$B -q synth --site random --n 40 --seed 903 --out $D/robust/random-903 && echo "done random-903"
for f in $ROOT/tools/realbg/sites/*.toml; do
  n=$(basename $f .toml)
  $B -q synth --site $f --n 20 --seed 500 --out $D/robust/$n && echo "done robust $n"
done
echo ALL DONE
