//! `strokeseg demo`: one synthetic study, segmented by the shipped model, report printed.

use crate::cli::DemoArgs;
use crate::Status;
use strokeseg_io::StudySpec;
use strokeseg_pipeline::outputs::{summary_line, write_outputs};
use strokeseg_pipeline::OutputRequest;
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
    let template = match Template::load(&a.location.options().template_dir()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let mut seg = a.model.segmenter()?;
    seg.locator = a.location.options().load_locator()?;
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
    let settings = a.model.settings();
    let spec = StudySpec {
        paths: vec![data.join(&truth.id)],
        ..Default::default()
    };
    let (study, mut result) = seg.load_and_run(&spec, &settings.lesion, false)?;
    let out = a.out.join("result");
    let input = data.join(&truth.id).display().to_string();
    let r = write_outputs(
        &out,
        &mut result,
        &study,
        &seg,
        &settings,
        &OutputRequest {
            input: &input,
            name: &truth.id,
            prob: false,
            dicom: None,
        },
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
