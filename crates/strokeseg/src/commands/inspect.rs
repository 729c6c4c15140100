//! `strokeseg inspect`: load each study and say what was found.

use super::study_args::specs;
use crate::cli::InspectArgs;
use crate::Status;
use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use strokeseg_core::{axis_codes, Mask, Volume};
use strokeseg_io::nifti_io::write_mask;
use strokeseg_io::study::{AdcOrigin, Source};
use strokeseg_io::{Study, StudySpec};
use strokeseg_preproc::{brain_mask, relative_noise, BrainMaskConfig, DEFAULT_DENOISE_ABOVE};

/// What `inspect --json` prints for one study.
#[derive(Debug, Serialize)]
struct Report {
    study: String,
    dims: [usize; 3],
    spacing_mm: [f64; 3],
    orientation: String,
    affine: [[f64; 4]; 4],
    b_value: Option<f64>,
    inputs: Inputs,
    adc_units_detected: Option<String>,
    adc_brain_median_1e6: Option<f32>,
    brain_volume_ml: f64,
    /// The DWI's relative noise in the brain, as `segment` measures it (`study.noise` of its
    /// report); null when the brain is too small to measure.
    dwi_relative_noise: Option<f64>,
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Inputs {
    dwi: Source,
    adc: Option<AdcOrigin>,
    b0: Option<Source>,
}

fn affine_rows(v: &Volume) -> [[f64; 4]; 4] {
    let a = v.affine();
    std::array::from_fn(|r| std::array::from_fn(|c| a[(r, c)]))
}

fn report(spec: &StudySpec, study: Study, mask: &Mask) -> Report {
    let adc_median = study.adc.as_ref().and_then(|a| a.median_in(mask));
    let noise = relative_noise(&study.dwi, mask);
    let units = match &study.adc_origin {
        Some(AdcOrigin::Given { units, .. }) => Some(units.label().to_string()),
        Some(AdcOrigin::Computed { .. }) => Some("computed (1e-6 mm2/s)".to_string()),
        None => None,
    };
    let name = spec
        .paths
        .first()
        .or(spec.dwi.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Report {
        study: name,
        dims: study.dwi.dims(),
        spacing_mm: study.dwi.spacing_mm(),
        orientation: axis_codes(study.dwi.affine()),
        affine: affine_rows(&study.dwi),
        b_value: study.b_value,
        inputs: Inputs {
            dwi: study.dwi_source,
            adc: study.adc_origin,
            b0: study.b0_source,
        },
        adc_units_detected: units,
        adc_brain_median_1e6: adc_median,
        brain_volume_ml: mask.volume_ml(),
        dwi_relative_noise: noise,
        warnings: study.warnings,
    }
}

fn print_text(r: &Report) {
    let [x, y, z] = r.dims;
    let [a, b, c] = r.spacing_mm;
    println!("study  {}", r.study);
    println!(
        "  DWI    {x}×{y}×{z} voxels of {a:.2}×{b:.2}×{c:.2} mm, {}, b = {}",
        r.orientation,
        r.b_value
            .map_or("unknown".to_string(), |b| format!("{b} s/mm²"))
    );
    println!(
        "         from {} ({})",
        r.inputs.dwi.path.display(),
        r.inputs.dwi.detail
    );
    match &r.inputs.adc {
        Some(AdcOrigin::Given { source, units, brain_median_input_units }) => println!(
            "  ADC    given in {} (brain median {brain_median_input_units}), now 10⁻⁶ mm²/s; from {} ({})",
            units.label(),
            source.path.display(),
            source.detail
        ),
        Some(AdcOrigin::Computed { b_value, b_value_assumed }) => println!(
            "  ADC    computed as ln(b0/DWI)/{b_value}{}, in 10⁻⁶ mm²/s",
            if *b_value_assumed { " (b assumed)" } else { "" }
        ),
        None => println!("  ADC    none"),
    }
    if let Some(m) = r.adc_brain_median_1e6 {
        println!("         brain median {m:.0} ×10⁻⁶ mm²/s");
    }
    match &r.inputs.b0 {
        Some(s) => println!("  b0     from {} ({})", s.path.display(), s.detail),
        None => println!("  b0     none"),
    }
    println!("  brain  {:.1} mL", r.brain_volume_ml);
    match r.dwi_relative_noise {
        Some(n) => println!(
            "  noise  {n:.3} of the brain's DWI signal{}",
            if n > DEFAULT_DENOISE_ABOVE {
                format!(
                    " (above {DEFAULT_DENOISE_ABOVE}: segment smooths it in-plane before reading, unless the model's plan says otherwise)"
                )
            } else {
                String::new()
            }
        ),
        None => println!("  noise  not measurable (brain too small)"),
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
}

/// Writes `<study name>_brainmask.nii.gz` into `dir`, refusing to overwrite.
fn save_mask(dir: &Path, spec: &StudySpec, mask: &Mask) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let src = spec
        .paths
        .first()
        .or(spec.dwi.as_ref())
        .cloned()
        .unwrap_or_default();
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "study".into());
    let stem = name.trim_end_matches(".gz").trim_end_matches(".nii");
    let out = dir.join(format!("{stem}_brainmask.nii.gz"));
    if out.exists() {
        anyhow::bail!("{} exists; not overwriting it", out.display());
    }
    write_mask(&out, mask, "strokeseg brain mask")?;
    Ok(())
}

/// Runs `inspect`: each study in turn; a bad one is reported and the rest continue.
pub fn run(args: &InspectArgs) -> anyhow::Result<Status> {
    let specs = specs(&args.study)?;
    super::batch::each(&specs, |spec| {
        let study = Study::load(spec)?;
        let mask = brain_mask(&study.dwi, &BrainMaskConfig::default());
        if let Some(dir) = &args.brain_mask_dir {
            save_mask(dir, spec, &mask)?;
        }
        let r = report(spec, study, &mask);
        if args.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            print_text(&r);
        }
        Ok(Status::Ok)
    })
}
