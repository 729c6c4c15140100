#!/bin/bash
# Trains the fold models (leave-one-real-case-out) and the all-data model: each fine-tunes
# models/synth-v1 on template-synthetic studies + synthetic infarcts implanted into the real
# backgrounds of the other folds (and those backgrounds unchanged), libtorch CPU device.
# Usage: FOLDS="A B C all" EPOCHS=5 bash tools/realbg/folds.sh   (after gen.sh; tools/setup-tch.sh --cpu)
# EXTRA="--hard-negatives 0.5" adds training flags; TAG=-hn writes runs/fold-A-hn instead of runs/fold-A;
# SEED=11 changes the training seed (default 7), to see how much of a difference is run-to-run spread.
# INIT=checkpoints/fold-A-hard-negatives starts from another model (default models/synth-v1); LR sets the
# peak learning rate (default 3e-4).
set -u
source ~/.cache/strokeseg/tch.env
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${STROKESEG:-$ROOT/target/tch/release/strokeseg}
D=${DATA:-$ROOT/data}
R=${RUNS:-$ROOT/runs}
source "$(dirname "$0")/folds.env"
EPOCHS=${EPOCHS:-12}
STEPS=${STEPS:-200}
for fold in ${FOLDS:-A B C all}; do
  args=(); val=(); weights=()
  for bg in $ALL_BG; do
    case " ${TEST[$fold]} " in *" $bg "*) continue;; esac
    args+=(--data $D/implant/$bg); weights+=(--weight 1.0)
    val+=(--val $D/implant-val/$bg)
  done
  for s in a b c d e; do
    args+=(--data $D/synth/site-$s); weights+=(--weight 0.4)
    val+=(--val $D/synth-val/site-$s)
  done
  out=$R/fold-$fold${TAG:-}
  resume=(); [ -f $out/state.json ] && resume=(--resume)
  echo "=== fold $fold (test: ${TEST[$fold]:-none}) $(date -u +%H:%M:%S)"
  $B train --device libtorch-cpu --init ${INIT:-$ROOT/models/synth-v1} "${args[@]}" "${weights[@]}" "${val[@]}" \
    --out $out --epochs $EPOCHS --steps-per-epoch $STEPS --lr ${LR:-3e-4} --max-val 6 --seed ${SEED:-7} ${EXTRA:-} "${resume[@]}" 2>&1 \
    | tr '\r' '\n' | grep -v "^\s*$" | grep -E "epoch|error|trained|training on|warn" 
  echo "=== fold $fold finished $(date -u +%H:%M:%S)"
done
