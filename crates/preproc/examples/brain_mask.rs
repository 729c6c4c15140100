//! Try brain-mask settings on one image and compare with a reference mask:
//! `cargo run --release -p strokeseg-preproc --example brain_mask -- DWI OUT [REF] [otsu_fraction open_mm smooth_mm]`
use std::path::Path;
use strokeseg_io::nifti_io::{read_volume, write_mask};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let dwi = read_volume(Path::new(&a[1]))?;
    let mut cfg = BrainMaskConfig::default();
    let num = |i: usize| a.get(i).and_then(|s| s.parse::<f64>().ok());
    if let Some(x) = num(4) {
        cfg.otsu_fraction = x as f32;
    }
    if let Some(x) = num(5) {
        cfg.open_mm = x;
    }
    if let Some(x) = num(6) {
        cfg.smooth_mm = x;
    }
    let m = brain_mask(&dwi, &cfg);
    write_mask(Path::new(&a[2]), &m, "brain_mask example")?;
    print!("volume {:.1} mL", m.volume_ml());
    if let Some(r) = a.get(3).filter(|s| *s != "-") {
        let r = read_volume(Path::new(r))?;
        let (mut both, mut x, mut y) = (0usize, 0usize, 0usize);
        for (t, o) in r.data().iter().zip(m.data().iter()) {
            both += usize::from(*t > 0.5 && *o);
            x += usize::from(*t > 0.5);
            y += usize::from(*o);
        }
        print!("  dice {:.3}", 2.0 * both as f64 / (x + y) as f64);
    }
    println!();
    Ok(())
}
