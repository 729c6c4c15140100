//! Pictures of implanted lesions beside a real one: for each study given (an implant-mode
//! dataset study folder `sub-*` or a real ISLES'22 case), DWI and ADC rows through the slices
//! with most lesion, with the truth outlined.
//!
//! ```sh
//! cargo run --release -p strokeseg-implant --example implant_montage -- OUT.png STUDY_DIR...
//! ```
//! Real data stays out of the repository: write OUT.png under `target/`.

use std::path::PathBuf;
use strokeseg_io::StudySpec;
use strokeseg_report::{montage, pick_slices, Row};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (out, studies) = args
        .split_first()
        .ok_or("usage: implant_montage OUT.png STUDY_DIR...")?;
    let mut rows_img = Vec::new();
    for dir in studies {
        let study = strokeseg_io::Study::load(&StudySpec {
            paths: vec![dir.clone()],
            ..StudySpec::default()
        })?;
        let truth = strokeseg_implant::background::find_truth(dir)
            .ok_or_else(|| format!("{}: no *_msk.nii.gz", dir.display()))?;
        let mask = strokeseg_io::nifti_io::read_volume(&truth)?.map(|&v| v > 0.5);
        let slices = pick_slices(&study.dwi, Some(&mask), 4);
        let mut rows = vec![Row {
            image: &study.dwi,
            outline: Some(&mask),
            window: None,
        }];
        if let Some(adc) = &study.adc {
            rows.push(Row {
                image: adc,
                outline: Some(&mask),
                window: Some((0.0, 2000.0)),
            });
        }
        rows_img.push(montage(&rows, &slices, 128));
    }
    let w = rows_img
        .iter()
        .map(image::RgbImage::width)
        .max()
        .unwrap_or(1);
    let h: u32 = rows_img.iter().map(image::RgbImage::height).sum();
    let mut canvas = image::RgbImage::new(w, h.max(1));
    let mut y = 0;
    for img in &rows_img {
        image::imageops::replace(&mut canvas, img, 0, i64::from(y));
        y += img.height();
    }
    canvas.save(out)?;
    println!("wrote {}", out.display());
    Ok(())
}
