#!/bin/bash
# Evaluates one fold model: packs runs/fold-X into a model folder, calibrates it on data that
# holds real negatives of its own training backgrounds, then scores the fold's held-out real
# studies (the originals) and the implants into them, and the held-out synthetic test.
# RUN may also be an ensemble folder made by `strokeseg ensemble`.
# CKPT=last scores the run's last checkpoint instead of the one validation picked (best).
# SKIP_IMPLANT=1, SKIP_SYNTH=1 and SKIP_ROBUST=1 leave out the implants, the synthetic test and the robustness sets.
# Usage: bash tools/realbg/evalfold.sh A   (writes the ADS peer CSVs $R/ads-peer/ads{1,2}.csv from ../shared when missing)
set -u
fold=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${STROKESEG:-$ROOT/target/release/strokeseg}
D=${DATA:-$ROOT/data}
R=${RUNS:-$ROOT/runs}
source "$(dirname "$0")/folds.env"
run=${RUN:-$R/fold-$fold}; m=${MODEL:-$R/model-$fold}   # RUN/MODEL override (e.g. an earlier run of the fold)
rm -rf $m; mkdir -p $m
if [ -d $run/members ]; then   # an ensemble folder (strokeseg ensemble): its members as they are
  cp -r $run/plan.json $run/ensemble.json $run/MODEL_CARD.md $run/members $m/
else
  cp $run/plan.json $run/train_log.csv $run/state.json $run/train_config.json $m/
  cp $run/checkpoints/${CKPT:-best}/* $m/; rm -f $m/optimizer.bpk
fi
# Originals (index 000) of the training backgrounds, as a dataset folder of symlinks.
mk_orig() { # dir bg...
  local d=$1; shift; rm -rf $d; mkdir -p $d/derivatives
  for bg in "$@"; do
    ln -s $D/implant/$bg/sub-${bg}000 $d/sub-${bg}000
    ln -s $D/implant/$bg/derivatives/sub-${bg}000 $d/derivatives/sub-${bg}000
  done
}
train_bg=(); test_bg=(${TEST[$fold]})
for bg in $ALL_BG; do case " ${TEST[$fold]} " in *" $bg "*) ;; *) train_bg+=($bg);; esac; done
# Calibration uses only the training backgrounds whose own lesions are known (KNOWN_BG).
cal_bg=(); for bg in "${train_bg[@]}"; do case " $KNOWN_BG " in *" $bg "*) cal_bg+=($bg);; esac; done
mk_orig $R/calib-orig-$fold "${cal_bg[@]}"
cal=(--data $R/calib-orig-$fold)
for bg in "${cal_bg[@]}"; do cal+=(--data $D/implant-val/$bg); done
for s in a b c d e; do cal+=(--data $D/synth-val/site-$s); done
# The larger calibration pool (gen.sh's implant-cal and synth-cal, seed 400) when it is there.
for bg in "${cal_bg[@]}"; do [ -d $D/implant-cal/$bg ] && cal+=(--data $D/implant-cal/$bg); done
for s in a b c d e; do [ -d $D/synth-cal/site-$s ] && cal+=(--data $D/synth-cal/site-$s); done
$B -q calibrate --model $m "${cal[@]}"
cat $m/operating_points.json | tr -d '\n' | head -c 600; echo
if [ ${#test_bg[@]} -gt 0 ]; then
  mk_orig $R/test-orig-$fold "${test_bg[@]}"
  $B -q validate --model $m --data $R/test-orig-$fold --out $m/eval-real-heldout
  imp=(); for bg in "${test_bg[@]}"; do imp+=(--data $D/implant/$bg); done
  [ -z "${SKIP_IMPLANT:-}" ] && $B -q validate --model $m "${imp[@]}" --max 8 --out $m/eval-implant-heldout
fi
# The held-out template-synthetic test (gen.sh's synth-test, seed 300), unless SKIP_SYNTH is set.
if [ -z "${SKIP_SYNTH:-}" ]; then
  st=(); for s in a b c d e; do st+=(--data $D/synth-test/site-$s); done
  $B -q validate --model $m "${st[@]}" --out $m/eval-synth-test
fi
# The robustness sets (gen.sh's robust/: random sites seed 903, low SNR, b2500), when present.
if [ -z "${SKIP_ROBUST:-}" ] && [ -d $D/robust ]; then
  for set in $D/robust/*/; do set=$(basename $set); $B -q validate --model $m --data $D/robust/$set --out $m/eval-$set; done
fi
case $fold in A) ads=ads1;; B) ads=ads2;; *) ads="";; esac
# The ADS example's peer prediction as its "truth" (JHU ADS output, not expert), written from
# ../shared when missing: Subject01 has no ADC file (computed from DWI and b0).
if [ -n "$ads" ] && [ ! -f $R/ads-peer/$ads.csv ]; then
  n=${ads#ads}; sd=$(realpath -m "$ROOT/../shared/data/real/ads/Subject0$n"); s=Subject0$n
  adc=""; [ -f $sd/${s}_ADC.nii.gz ] && adc=$sd/${s}_ADC.nii.gz
  mkdir -p $R/ads-peer
  printf 'id,site,dwi,b0,adc,mask\n%s,ads,%s,%s,%s,%s\n' "$s" "$sd/${s}_DWI.nii.gz" "$sd/${s}_b0.nii.gz" \
    "$adc" "$sd/${s}_DAGMNet_CH3_Lesion_Predict.nii.gz" > $R/ads-peer/$ads.csv
fi
[ -n "$ads" ] && $B -q validate --model $m --data $R/ads-peer/$ads.csv --out $m/eval-ads-peer
echo "fold $fold evaluated $(date -u +%H:%M:%S)"
