//! The Markdown report: machine, versions, threads, the side-by-side tables, goal verdicts.
//! [`splice`] puts it between markers in an existing document so hand-written analysis around
//! it survives regeneration.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::machine::Machine;
use crate::stats::Stats;

/// Marks the start of the generated part of a document.
pub const BEGIN: &str = "<!-- strokeseg bench: generated, do not edit by hand -->";
/// Marks its end.
pub const END: &str = "<!-- strokeseg bench: end of generated part -->";

/// One stack's timing of one measurement.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Seconds.
    pub stats: Stats,
    /// Peak RSS of the measuring process during it (bytes).
    pub peak_rss: u64,
}

/// One network measurement across stacks.
#[derive(Debug, Clone)]
pub struct NetRow {
    /// What was measured.
    pub label: String,
    /// Input shape, e.g. `1×2×32×128×128`.
    pub shape: String,
    /// FLOPs of one run (GFLOP).
    pub gflop: f64,
    /// burn (ours).
    pub ours: Measured,
    /// PyTorch.
    pub torch: Option<Measured>,
    /// ONNX Runtime.
    pub onnx: Option<Measured>,
    /// Agreement with PyTorch (`max|Δ| / max|torch|` of the logits, or |Δloss|/|loss|).
    pub torch_agreement: Option<f64>,
    /// Agreement of ONNX Runtime with ours, same measure.
    pub onnx_agreement: Option<f64>,
    /// The tuned inference path (`strokeseg-fastnet`), forward rows only.
    pub fast: Option<Measured>,
    /// Its agreement with burn (ours), `max|fast − burn| / max|burn|`.
    pub fast_agreement: Option<f64>,
    /// Its agreement with PyTorch, same measure.
    pub fast_torch_agreement: Option<f64>,
}

/// `strokeseg segment` end to end.
#[derive(Debug, Clone)]
pub struct SegmentReport {
    /// The study.
    pub study: String,
    /// Stages (`load`, `preprocess`, …) in order, seconds.
    pub stages: Vec<(String, Stats)>,
    /// Wall clock of the whole process.
    pub total: Stats,
    /// Peak RSS of the process (largest over runs, bytes).
    pub peak_rss: u64,
    /// Network FLOPs per study (GFLOP) and sliding windows.
    pub gflop: f64,
    /// Sliding windows per study.
    pub windows: usize,
}

/// Everything in the report.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The command that regenerates it.
    pub command: String,
    /// UTC date and time of the run.
    pub when: String,
    /// The machine.
    pub machine: Machine,
    /// Threads given to every stack.
    pub threads: usize,
    /// Load average before and after.
    pub load: (Option<f64>, Option<f64>),
    /// Software versions (burn, strokeseg, torch, …).
    pub versions: BTreeMap<String, String>,
    /// The network: name, parameters, configuration.
    pub model: String,
    /// Matrix-multiply probe, GFLOP/s, by kernel.
    pub peak: Vec<(String, f64)>,
    /// Forward passes.
    pub forward: Vec<NetRow>,
    /// Training step.
    pub train: Option<NetRow>,
    /// `segment` end to end.
    pub segment: Option<SegmentReport>,
    /// Why columns or sections are missing.
    pub notes: Vec<String>,
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / 1e6)
}

fn secs(s: &Stats) -> String {
    format!("{:.3} s ({:.3}–{:.3}, n={})", s.median, s.min, s.max, s.n)
}

impl BenchReport {
    /// The best measured matrix-multiply rate (the "machine peak").
    #[must_use]
    pub fn peak_gflops(&self) -> Option<f64> {
        self.peak.iter().map(|p| p.1).reduce(f64::max)
    }

    fn net_table(&self, out: &mut String, rows: &[&NetRow]) {
        let peak = self.peak_gflops();
        out.push_str("| measurement | input | GFLOP | burn (ours) | PyTorch | ONNX Runtime | ours/PyTorch | ours/ORT | GFLOP/s ours · PyTorch · ORT (% of peak) | peak RSS ours · PyTorch · ORT | agreement vs PyTorch · ORT |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        let dash = || "—".to_string();
        for r in rows {
            let rate = |m: &Option<&Measured>| {
                m.map_or_else(dash, |m| {
                    let g = r.gflop / m.stats.median;
                    peak.map_or(format!("{g:.1}"), |p| {
                        format!("{g:.1} ({:.0}%)", 100.0 * g / p)
                    })
                })
            };
            let ratio = |m: &Option<Measured>| {
                m.as_ref().map_or_else(dash, |m| {
                    format!("**{:.2}×**", r.ours.stats.median / m.stats.median)
                })
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} · {} · {} | {} · {} · {} | {} · {} |",
                r.label,
                r.shape,
                r.gflop,
                secs(&r.ours.stats),
                r.torch.as_ref().map_or_else(dash, |m| secs(&m.stats)),
                r.onnx.as_ref().map_or_else(dash, |m| secs(&m.stats)),
                ratio(&r.torch),
                ratio(&r.onnx),
                rate(&Some(&r.ours)),
                rate(&r.torch.as_ref()),
                rate(&r.onnx.as_ref()),
                mb(r.ours.peak_rss),
                r.torch.as_ref().map_or_else(dash, |m| mb(m.peak_rss)),
                r.onnx.as_ref().map_or_else(dash, |m| mb(m.peak_rss)),
                r.torch_agreement.map_or_else(dash, |e| format!("{e:.1e}")),
                r.onnx_agreement.map_or_else(dash, |e| format!("{e:.1e}")),
            );
        }
    }

    fn fast_table(&self, out: &mut String) {
        let peak = self.peak_gflops();
        out.push_str("| input | fast path | burn (same run) | fast/burn | fast/PyTorch | fast/ORT | GFLOP/s fast (% of peak) | peak RSS fast | agreement vs burn · PyTorch |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|\n");
        let dash = || "—".to_string();
        for r in &self.forward {
            let Some(f) = &r.fast else { continue };
            let ratio = |m: Option<&Measured>| {
                m.map_or_else(dash, |m| {
                    format!("**{:.2}×**", f.stats.median / m.stats.median)
                })
            };
            let g = r.gflop / f.stats.median;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} · {} |",
                r.shape,
                secs(&f.stats),
                secs(&r.ours.stats),
                ratio(Some(&r.ours)),
                ratio(r.torch.as_ref()),
                ratio(r.onnx.as_ref()),
                peak.map_or(format!("{g:.1}"), |p| format!(
                    "{g:.1} ({:.0}%)",
                    100.0 * g / p
                )),
                mb(f.peak_rss),
                r.fast_agreement.map_or_else(dash, |e| format!("{e:.1e}")),
                r.fast_torch_agreement
                    .map_or_else(dash, |e| format!("{e:.1e}")),
            );
        }
    }

    /// Goal verdicts, one line each.
    #[must_use]
    pub fn goals(&self) -> Vec<String> {
        let mut g = Vec::new();
        let verdict = |what: &str, value: f64, goal: f64, unit: &str| {
            if value <= goal {
                format!("- {what}: {value:.2}{unit} — goal ≤ {goal}{unit}: **met**")
            } else {
                format!(
                    "- {what}: {value:.2}{unit} — goal ≤ {goal}{unit}: **missed** by {:.2}× ({:+.2}{unit})",
                    value / goal,
                    value - goal
                )
            }
        };
        for r in &self.forward {
            if let Some(t) = &r.torch {
                g.push(verdict(
                    &format!("forward {} (burn) vs PyTorch", r.shape),
                    r.ours.stats.median / t.stats.median,
                    1.0,
                    "×",
                ));
            }
            if let Some(f) = &r.fast {
                if let Some(t) = &r.torch {
                    g.push(verdict(
                        &format!("forward {} (fast path) vs PyTorch", r.shape),
                        f.stats.median / t.stats.median,
                        1.0,
                        "×",
                    ));
                }
                if let Some(o) = &r.onnx {
                    g.push(verdict(
                        &format!("forward {} (fast path) vs ONNX Runtime", r.shape),
                        f.stats.median / o.stats.median,
                        1.0,
                        "×",
                    ));
                }
            }
        }
        if let Some(t) = self
            .train
            .as_ref()
            .and_then(|r| Some((r, r.torch.as_ref()?)))
        {
            g.push(verdict(
                "training step vs PyTorch",
                t.0.ours.stats.median / t.1.stats.median,
                1.5,
                "×",
            ));
        }
        if let Some(s) = &self.segment {
            g.push(verdict("`segment` end to end", s.total.median, 5.0, " s"));
            g.push(verdict(
                "`segment` peak RSS",
                s.peak_rss as f64 / 1e9,
                1.5,
                " GB",
            ));
        }
        g
    }

    /// The generated Markdown (between [`BEGIN`] and [`END`]).
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(o, "{BEGIN}\n");
        let _ = writeln!(o, "Generated {} by `{}`.\n", self.when, self.command);
        let _ = writeln!(
            o,
            "**Machine:** {} ({} logical CPUs; {}), {:.1} GB RAM, Linux {}. **Threads:** {} for every stack (rayon global pool for burn; `torch.set_num_threads({})`, 1 inter-op thread; ONNX Runtime intra-op {}, inter-op 1). Load average (1 min) before/after: {} / {}.\n",
            m.cpu_model,
            m.logical_cpus,
            m.simd.join(", "),
            m.ram_bytes as f64 / 1e9,
            m.kernel,
            self.threads,
            self.threads,
            self.threads,
            self.load.0.map_or("?".into(), |l| format!("{l:.2}")),
            self.load.1.map_or("?".into(), |l| format!("{l:.2}")),
        );
        let v: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(o, "**Versions:** {}.\n", v.join(", "));
        let _ = writeln!(o, "**Network:** {}.\n", self.model);
        let peaks: Vec<String> = self
            .peak
            .iter()
            .map(|(k, g)| format!("{k} {g:.1} GFLOP/s"))
            .collect();
        let _ = writeln!(
            o,
            "**Machine peak** (best of a 2048² f32 matrix multiply, same threads): {}; the percentages below are of the best of these.\n",
            peaks.join(", ")
        );
        o.push_str("### Network (median of the timed runs, min–max in brackets)\n\n");
        let mut rows: Vec<&NetRow> = self.forward.iter().collect();
        if let Some(t) = &self.train {
            rows.push(t);
        }
        self.net_table(&mut o, &rows);
        if self.forward.iter().any(|r| r.fast.is_some()) {
            o.push_str("\n### Fast inference path (`strokeseg-fastnet`, the default `--engine` of `segment`)\n\n");
            self.fast_table(&mut o);
            o.push_str("\nThe same inputs, weights and threads as the table above, measured in the same run; fast/burn is the ratio least sensitive to other load on the machine.\n");
        }
        o.push_str("\nGFLOP counts the convolutions and transposed convolutions analytically from their shapes (`UNet3dConfig::flops`, 2 FLOPs per multiply-add); a training step is counted as 3× the forward (forward, and backward for inputs and weights). Agreement: `max|ours − theirs| / max|theirs|` of the logits on the same input and weights (for the training step: relative difference of the first loss). Peak RSS is the measuring process's high-water mark during that measurement (reset before it), so it includes what was already resident (libraries, weights).\n");
        if let Some(s) = &self.segment {
            let _ = writeln!(
                o,
                "\n### `strokeseg segment` end to end ({}; {} sliding windows, {:.1} GFLOP of network)\n",
                s.study, s.windows, s.gflop
            );
            o.push_str("| stage | median (min–max) |\n|---|---|\n");
            for (k, st) in &s.stages {
                let _ = writeln!(o, "| {k} | {} |", secs(st));
            }
            let _ = writeln!(
                o,
                "| **whole process** (wall clock) | **{}** |",
                secs(&s.total)
            );
            let _ = writeln!(o, "\nPeak RSS of the `segment` process: {}. `startup + model load` is the wall clock minus the stages that `segment` times itself (process start, argument parsing, loading the model).", mb(s.peak_rss));
        }
        o.push_str("\n### Goals\n\n");
        let busiest = [self.load.0, self.load.1]
            .into_iter()
            .flatten()
            .fold(0f64, f64::max);
        if busiest > self.threads as f64 + 0.5 {
            let _ = writeln!(
                o,
                "**Caution: the machine was busy** (load average up to {busiest:.1} on {} logical CPUs): every stack competed with other processes for the cores, so these times and ratios are noisy; rerun on a quiet machine before trusting a verdict.\n",
                self.machine.logical_cpus
            );
        }
        for l in self.goals() {
            let _ = writeln!(o, "{l}");
        }
        if !self.notes.is_empty() {
            o.push_str("\n### Notes from this run\n\n");
            for n in &self.notes {
                let _ = writeln!(o, "- {n}");
            }
        }
        let _ = writeln!(o, "\n{END}");
        o
    }
}

/// Puts `generated` (which starts with [`BEGIN`] and ends with [`END`]) into `doc`, replacing
/// an earlier generated part; appends it when `doc` has none.
#[must_use]
pub fn splice(doc: &str, generated: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(a), Some(b)) if b > a => {
            let tail = &doc[b + END.len()..];
            format!("{}{}{}", &doc[..a], generated.trim_end(), tail)
        }
        _ if doc.trim().is_empty() => generated.to_string(),
        _ => format!("{}\n\n{}", doc.trim_end(), generated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_generated_part() {
        let g1 = format!("{BEGIN}\none\n{END}\n");
        let doc = format!("# Title\n\nintro\n\n{g1}\n## Analysis\nkept\n");
        let g2 = format!("{BEGIN}\ntwo\n{END}\n");
        let out = splice(&doc, &g2);
        assert!(out.contains("two") && !out.contains("one"));
        assert!(out.starts_with("# Title\n\nintro") && out.ends_with("## Analysis\nkept\n"));
        assert_eq!(splice(&out, &g2), out, "idempotent");
        assert!(splice("# T\n", &g2).starts_with("# T\n\n<!--"));
    }

    fn measured(median: f64) -> Measured {
        Measured {
            stats: Stats {
                median,
                min: median,
                max: median,
                n: 3,
            },
            peak_rss: 100_000_000,
        }
    }

    #[test]
    fn fast_path_gets_its_table_ratios_and_verdicts() {
        let row = NetRow {
            label: "forward".into(),
            shape: "1×2×32×64×64".into(),
            gflop: 16.0,
            ours: measured(0.4),
            torch: Some(measured(0.2)),
            onnx: Some(measured(0.1)),
            torch_agreement: Some(1e-6),
            onnx_agreement: None,
            fast: Some(measured(0.16)),
            fast_agreement: Some(2e-6),
            fast_torch_agreement: Some(3e-6),
        };
        let report = BenchReport {
            command: "x".into(),
            when: "now".into(),
            machine: crate::machine::describe(),
            threads: 2,
            load: (Some(0.5), Some(0.5)),
            versions: BTreeMap::new(),
            model: "m".into(),
            peak: vec![("p".into(), 100.0)],
            forward: vec![row.clone()],
            train: None,
            segment: None,
            notes: vec![],
        };
        let md = report.markdown();
        assert!(md.contains("### Fast inference path"), "{md}");
        // fast/burn 0.40, fast/PyTorch 0.80, fast/ORT 1.60; 100 GFLOP/s = 100% of the peak.
        assert!(
            md.contains("| **0.40×** | **0.80×** | **1.60×** | 100.0 (100%) |"),
            "{md}"
        );
        assert!(md.contains("2.0e-6 · 3.0e-6"), "{md}");
        let goals = report.goals();
        assert!(goals
            .iter()
            .any(|g| g.contains("(fast path) vs PyTorch: 0.80×") && g.contains("met")));
        assert!(goals
            .iter()
            .any(|g| g.contains("(fast path) vs ONNX Runtime: 1.60×") && g.contains("missed")));
        // Without a fast measurement there is no fast table.
        let mut plain = report;
        plain.forward[0].fast = None;
        assert!(!plain.markdown().contains("Fast inference path"));
    }
}
