#!/bin/bash
# Packs the all-data run ($R/fold-all, or $RUN) into models/realmix-v1 (or models/$NAME), calibrates it on the real
# negatives and labelled positives (originals of the healthy and ISLES'22 backgrounds), their
# implanted validation studies and the template-synthetic validation studies, and scores it on
# the held-out synthetic test set (seed 300, every preset). Real-case scores of this model are
# in-sample; the honest real-case figures are the fold models' (evalfold.sh).
# Usage: bash tools/realbg/ship.sh   (after folds.sh with FOLDS=all; $D/synth-test from gen.sh)
#        NAME=realmix-v2 RUN=runs/fold-all-hn bash tools/realbg/ship.sh
# RUN may be an ensemble folder (strokeseg ensemble).
# CKPT=last ships the run's last checkpoint instead of the one validation picked (best).
# RECALIBRATE=1 only calibrates and scores the model folder already there (no copy).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${STROKESEG:-$ROOT/target/release/strokeseg}
D=${DATA:-$ROOT/data}
R=${RUNS:-$ROOT/runs}
m=$ROOT/models/${NAME:-realmix-v1}
run=${RUN:-$R/fold-all}
mkdir -p $m
if [ -z "${RECALIBRATE:-}" ]; then
  if [ -d $run/members ]; then   # an ensemble folder (strokeseg ensemble): its members as they are
    cp -r $run/plan.json $run/ensemble.json $run/members $m/
  else
    cp $run/plan.json $run/train_log.csv $run/state.json $run/train_config.json $m/
    cp $run/checkpoints/${CKPT:-best}/config.json $run/checkpoints/${CKPT:-best}/model.bpk $m/
  fi
fi
source "$(dirname "$0")/folds.env"
cal_bg=$KNOWN_BG
c=$R/calib-orig-all; rm -rf $c; mkdir -p $c/derivatives
for bg in $cal_bg; do
  ln -s $D/implant/$bg/sub-${bg}000 $c/sub-${bg}000
  ln -s $D/implant/$bg/derivatives/sub-${bg}000 $c/derivatives/sub-${bg}000
done
cal=(--data $c); for bg in $cal_bg; do cal+=(--data $D/implant-val/$bg); done
for s in a b c d e; do cal+=(--data $D/synth-val/site-$s); done
# The larger calibration pool (gen.sh's implant-cal and synth-cal, seed 400) when it is there.
for bg in $cal_bg; do [ -d $D/implant-cal/$bg ] && cal+=(--data $D/implant-cal/$bg); done
for s in a b c d e; do [ -d $D/synth-cal/site-$s ] && cal+=(--data $D/synth-cal/site-$s); done
$B -q calibrate --model $m "${cal[@]}"
test=(); for s in a b c d e; do test+=(--data $D/synth-test/site-$s); done
$B -q validate --model $m "${test[@]}" --out $m/eval-synthetic-test
echo "shipped $m $(date -u +%H:%M:%S)"
