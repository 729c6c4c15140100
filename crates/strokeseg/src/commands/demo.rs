//! `strokeseg demo`: one synthetic study, segmented by the shipped model, report printed.

use super::segment::{load_segmenter, summary_line, write_outputs};
use crate::cli::DemoArgs;
use crate::Status;
use std::time::Instant;
use strokeseg_io::{Study, StudySpec};
use strokeseg_synth::dataset::{write_study, Generator};
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;

/// Runs `demo`.
pub fn run(a: &DemoArgs) -> anyhow::Result<Status> {
    let site = match find_site(&a.site) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let template = match Template::load(&super::register::template_dir(&a.location)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let mut seg = load_segmenter(&a.model)?;
    seg.locator = super::register::load_locator(&a.location)?;
    let gen = Generator::new(template);
    let mut s = gen.study(&site, a.seed, 0);
    let data = a.out.join("study");
    write_study(&data, &mut s, &site, false)?;
    let truth = &s.truth;
    println!(
        "synthetic study {} (site {}): truth {} lesion(s), {:.2} mL{}",
        truth.id,
        site.name,
        truth.lesions.iter().filter(|l| l.visible).count(),
        truth.lesion_volume_ml,
        truth
            .lesions
            .iter()
            .find(|l| l.visible)
            .map_or(String::new(), |l| format!(
                " ({:?} in the {})",
                l.kind,
                l.region.name()
            ))
    );
    let t = Instant::now();
    let study = Study::load(&StudySpec {
        paths: vec![data.join(&truth.id)],
        ..Default::default()
    })?;
    let load_s = t.elapsed().as_secs_f64();
    let lcfg = a.model.lesion_config();
    let mut result = seg.run(&study, &lcfg, load_s)?;
    let out = a.out.join("result");
    let r = write_outputs(
        &out,
        &mut result,
        &study,
        &seg,
        &a.model,
        &data.join(&truth.id).display().to_string(),
        &truth.id,
        false,
    )?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    println!("{}", summary_line(&truth.id, &r));
    println!(
        "outputs in {} (key_images.png, overlay.png, report.json, {})",
        out.display(),
        r.files.lesion_mask
    );
    Ok(Status::Ok)
}
