//! `strokeseg register`: per study, the affine to MNI ICBM152 2009a and its smooth
//! non-linear refinement (`--affine-only` to skip it), the quality verdict, the study
//! resampled to MNI for checking, and a picture of the template outline over it.

use super::study_args::specs;
use crate::cli::RegisterArgs;
use crate::Status;
use anyhow::Context;
use image::Rgb;
use strokeseg_atlas::Locator;
use strokeseg_io::nifti_io::{write_mask, write_volume};
use strokeseg_io::{InputError, Study};
use strokeseg_preproc::{brain_mask, erode_mm, BrainMaskConfig};
use strokeseg_register::{Registration, Warp};
use strokeseg_report::text::with_header;
use strokeseg_report::{montage, Row};

/// Name of the displacement field file next to transform.json.
pub const WARP_FILE: &str = "warp_mni.nii.gz";

/// Writes the displacement field as a 4-D float NIfTI (x, y, z, 3 components in mm along
/// MNI x, y, z; intent "vector"), with the field grid's affine as sform and qform.
fn write_warp(path: &std::path::Path, w: &Warp) -> anyhow::Result<()> {
    use nifti::{writer::WriterOptions, NiftiHeader, XForm};
    let d = w.grid.dims;
    let mut a = ndarray::Array4::<f32>::zeros((d[0], d[1], d[2], 3));
    for (c, f) in w.field.iter().enumerate() {
        a.index_axis_mut(ndarray::Axis(3), c).assign(f);
    }
    let mut h = NiftiHeader::default();
    h.set_sform(&w.grid.affine, XForm::ScannerAnat);
    h.set_qform(&w.grid.affine, XForm::ScannerAnat);
    h.xyzt_units = 2; // mm
    h.intent_code = 1007; // NIFTI_INTENT_VECTOR
    let _ = h.set_description_str("strokeseg: MNI q -> affine(q + d(q)), d in mm");
    WriterOptions::new(path)
        .reference_header(&h)
        .compress(true)
        .write_nifti(&a)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The template outline (brain edge) over the registered DWI: three rows of slices.
fn check_picture(
    loc: &Locator,
    dwi_mni: &strokeseg_core::Volume,
    name: &str,
    reg: &Registration,
) -> image::RgbImage {
    let t = &loc.template;
    let inner = erode_mm(t.brain.data(), 2.0, t.brain.spacing_mm());
    let mut edge = t.brain.data().clone();
    edge.zip_mut_with(&inner, |e, &i| *e &= !i);
    let outline = strokeseg_core::Mask::on_grid(edge, &t.brain.grid());
    let nz = t.brain.dims()[2];
    let slices: Vec<usize> = [0.25, 0.37, 0.49, 0.61, 0.72]
        .iter()
        .map(|f| (f * nz as f64) as usize)
        .collect();
    let pic = montage(
        &[Row {
            image: dwi_mni,
            outline: Some(&outline),
            window: None,
        }],
        &slices,
        140,
    );
    let q = reg.quality;
    let lines = vec![
        (
            format!("{name}: registered to {}", t.name),
            Rgb([230, 230, 230]),
        ),
        (
            format!(
                "{}  coverage {:.2}  brain Dice {:.2}  corr {:.2}",
                reg.failure
                    .as_deref()
                    .map_or("OK".to_string(), |f| format!("FAILED: {f}")),
                q.coverage,
                q.brain_dice,
                q.correlation
            ),
            if reg.ok() {
                Rgb([90, 220, 90])
            } else {
                Rgb([255, 80, 80])
            },
        ),
    ];
    with_header(&pic, &lines, 1)
}

/// Runs `register`.
pub fn run(a: &RegisterArgs) -> anyhow::Result<Status> {
    let specs = specs(&a.study)?;
    let location = a.location.options();
    let Some(loc) = location.load_locator()? else {
        return Err(InputError::Usage(format!(
            "registration needs the MNI template in {}",
            location.template_dir().display()
        ))
        .into());
    };
    super::batch::each(&specs, |spec| {
        let study = Study::load(spec)?;
        let name = strokeseg_pipeline::outputs::study_name(spec);
        let dir = a.out.join(&name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
        let mut reg = loc.register(&study.dwi, &brain);
        if let Some(w) = &reg.warp {
            write_warp(&dir.join(WARP_FILE), w)?;
            if let Some(n) = reg.nonlinear.as_mut() {
                n.file = Some(WARP_FILE.to_string());
            }
        }
        let grid = loc.template.brain.grid();
        let dwi_mni = reg.volume_to_mni(&study.dwi, &grid);
        write_volume(
            &dir.join("dwi_mni.nii.gz"),
            &dwi_mni,
            "strokeseg: DWI resampled to MNI (2 mm)",
        )?;
        write_mask(
            &dir.join("brain_mask_mni.nii.gz"),
            &reg.mask_to_mni(&brain, &grid),
            "strokeseg: brain mask in MNI",
        )?;
        let p = dir.join("transform.json");
        std::fs::write(&p, serde_json::to_string_pretty(&reg)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
        let p = dir.join("check.png");
        check_picture(&loc, &dwi_mni, &name, &reg)
            .save(&p)
            .with_context(|| format!("cannot write {}", p.display()))?;
        let q = reg.quality;
        let nl = reg
            .nonlinear
            .as_ref()
            .map_or("off (--affine-only)".to_string(), |n| n.status.clone());
        match &reg.failure {
            None => println!(
                "{name}: registered ({:.1} s; coverage {:.2}, brain Dice {:.3}, correlation {:.2}; \
                 non-linear refinement: {nl})",
                reg.seconds, q.coverage, q.brain_dice, q.correlation
            ),
            Some(f) => {
                println!("{name}: REGISTRATION FAILED: {f}");
                return Ok(Status::BadInput);
            }
        }
        Ok(Status::Ok)
    })
}
