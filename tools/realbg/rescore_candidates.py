#!/usr/bin/env python3
"""Would a second-stage candidate score help the patient call? (docs/experiments.md §4,
nineteenth session). Plain Python 3, no packages.

A logistic model of each candidate lesion's features is fitted on a fold model's calibration
pool (`calibration_candidates.csv` of `strokeseg calibrate`; label: the candidate lies on a
truth lesion) and the study score becomes its highest candidate probability. The threshold is
chosen on the pool as `calibrate` chooses it (sensitivity 0.95 on located scores; when that
needs positives without a candidate, the lowest located score), and applied to held-out sets.

Usage: python3 tools/realbg/rescore_candidates.py [--reach] POOL [NAME=SET ...]
  POOL  a model folder after `strokeseg calibrate` on its calibration pool
  SET   a folder after `strokeseg calibrate` on a held-out dataset (a copy of the model, so that
        POOL keeps its own files): only its two CSVs are read
  --reach  apply the sensitivity target to the positives that have a candidate on their lesion
           (the positives without one are counted as missed but do not set the threshold)
Prints the fitted weights, the pool's threshold, and per set: ROC AUC, sensitivity and
specificity at that threshold, for the network score alone ("base") and for each feature set.
"""
import csv
import math
import sys

# feature sets: log ADC lower quartile, log ADC median, log left-right DWI asymmetry
KINDS = ["base", "adc", "adc+mir", "adc+med+mir"]


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def num(x):
    try:
        v = float(x)
        return v if math.isfinite(v) and v > 0 else None
    except (TypeError, ValueError):
        return None


def features(c, kind, fill):
    s = min(max(float(c["score"]), 1e-4), 1 - 1e-4)
    out = [1.0, math.log(s / (1 - s))]
    cols = [("adc", "adc_ratio_low")]
    if "med" in kind:
        cols.append(("med", "adc_ratio"))
    if "mir" in kind:
        cols.append(("mir", "dwi_mirror_ratio"))
    if kind == "base":
        return out
    for key, col in cols:
        v = num(c.get(col))
        if key == "mir" and v:
            v = min(max(v, 0.5), 3.0)  # a mirror outside the head reads as a huge ratio
        out.append(math.log(v) if v else fill[key])
    return out


def solve(a, b):
    n = len(b)
    m = [a[i][:] + [b[i]] for i in range(n)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        for r in range(n):
            if r != i:
                f = m[r][i] / m[i][i]
                for k in range(i, n + 1):
                    m[r][k] -= f * m[i][k]
    return [m[i][n] / m[i][i] for i in range(n)]


def sigmoid(z):
    return 1 / (1 + math.exp(-max(min(z, 30), -30)))


def fit(x, y, lam=1.0):
    """Logistic regression by Newton's method, L2 penalty `lam` on all but the intercept."""
    w = [0.0] * len(x[0])
    for _ in range(50):
        g = [0.0] * len(w)
        h = [[0.0] * len(w) for _ in w]
        for xi, t in zip(x, y):
            p = sigmoid(sum(a * b for a, b in zip(w, xi)))
            for i in range(len(w)):
                g[i] += (p - t) * xi[i]
                for j in range(len(w)):
                    h[i][j] += p * (1 - p) * xi[i] * xi[j]
        for i in range(1, len(w)):
            g[i] += lam * w[i]
            h[i][i] += lam
        step = solve(h, g)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return w


def grouped(scores, cands):
    """Each study with its candidates: `calibrate` writes them study by study in the scores'
    order (ids repeat across dataset folders, so order is the key)."""
    i = 0
    for s in scores:
        cs = []
        while i < len(cands) and (cands[i]["id"], cands[i]["site"]) == (s["id"], s["site"]):
            cs.append(cands[i])
            i += 1
        yield s, cs
    assert i == len(cands), "candidates out of the scores' order"


def study_scores(folder, score, located):
    out = []
    for s, cs in grouped(rows(f"{folder}/calibration_scores.csv"),
                         rows(f"{folder}/calibration_candidates.csv")):
        pos = s["positive"] == "true"
        if located and pos:
            cs = [c for c in cs if c["on_truth"] == "true"]
        out.append((pos, max([score(c) for c in cs], default=0.0)))
    return out


def threshold(ss, reach, target=0.95):
    pos = sorted([s for p, s in ss if p], reverse=True)
    if reach:
        pos = [s for s in pos if s > 0]
    need = min(max(math.ceil(target * len(pos) - 1e-9), 1), len(pos))
    return pos[need - 1] if pos[need - 1] > 0 else min(s for s in pos if s > 0)


def auc(ss):
    p = [s for t, s in ss if t]
    n = [s for t, s in ss if not t]
    if not p or not n:
        return float("nan")
    return sum((a > b) + 0.5 * (a == b) for a in p for b in n) / (len(p) * len(n))


def rates(ss, t):
    p = [s for q, s in ss if q]
    n = [s for q, s in ss if not q]
    se = sum(s >= t for s in p) / len(p) if p else float("nan")
    sp = sum(s < t for s in n) / len(n) if n else float("nan")
    return se, sp


def main(argv):
    reach = "--reach" in argv
    argv = [a for a in argv if a != "--reach"]
    pool, sets = argv[0], [a.split("=", 1) for a in argv[1:]]
    cands = rows(f"{pool}/calibration_candidates.csv")
    fill = {}
    for key, col in [("adc", "adc_ratio_low"), ("med", "adc_ratio"), ("mir", "dwi_mirror_ratio")]:
        v = [math.log(num(c.get(col))) for c in cands if num(c.get(col))]
        fill[key] = sum(v) / len(v) if v else 0.0
    score = {"base": lambda c: float(c["score"])}
    y = [1.0 if c["on_truth"] == "true" else 0.0 for c in cands]
    for k in KINDS[1:]:
        w = fit([features(c, k, fill) for c in cands], y)
        print(f"{k}: weights {[round(v, 2) for v in w]}")
        score[k] = (lambda w, k: lambda c: sigmoid(sum(a * b for a, b in zip(w, features(c, k, fill)))))(w, k)
    thr = {}
    for k in KINDS:
        ss = study_scores(pool, score[k], True)
        thr[k] = threshold(ss, reach)
        se, sp = rates(ss, thr[k])
        print(f"pool {k}: threshold {thr[k]:.3f}, sensitivity {se:.2f}, specificity {sp:.2f}")
    for name, folder in sets:
        line = f"{name:12}"
        for k in KINDS:
            ss = study_scores(folder, score[k], False)
            se, sp = rates(ss, thr[k])
            line += f" | {k}: AUC {auc(ss):.3f} se {se:.2f} sp {sp:.2f}"
        print(line)
        for k in KINDS:
            calls = [f"{s['id']} {max([score[k](c) for c in cs], default=0):.2f}"
                     + ("*" if max([score[k](c) for c in cs], default=0) >= thr[k] else "")
                     for s, cs in grouped(rows(f"{folder}/calibration_scores.csv"),
                                          rows(f"{folder}/calibration_candidates.csv"))
                     if s["positive"] != "true"]
            if len(calls) <= 4:
                print(f"  {k:12} negatives (* called): " + ", ".join(calls))


if __name__ == "__main__":
    main(sys.argv[1:])
