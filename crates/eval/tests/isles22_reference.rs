//! strokeseg-eval against the ISLES'22 challenge's own evaluation code on hand-made cases.
//!
//! The cases and the expected numbers are in `tools/isles22_reference.json`, produced by
//! `tools/isles22_reference.py` running the challenge's `utils/eval_utils.py` (numpy 1.23.5,
//! connected-components-3d 4.1.1); rerun the script to regenerate them. The real-data part
//! reads ISLES'22 expert masks from `../shared` in place (skipped with a message without it).

use ndarray::{Array3, ShapeBuilder};
use serde_json::Value;
use strokeseg_core::{Grid, Mask};
use strokeseg_eval::inputs::read_mask;
use strokeseg_eval::score_case;

const REFERENCE: &str = include_str!("../../../tools/isles22_reference.json");

fn build(c: &Value, key: &str) -> Mask {
    let d: Vec<usize> = serde_json::from_value(c["dims"].clone()).unwrap();
    let s: Vec<f64> = serde_json::from_value(c["spacing_mm"].clone()).unwrap();
    let mut a = Array3::from_elem((d[0], d[1], d[2]), false);
    for b in c[key].as_array().unwrap() {
        let b: Vec<usize> = serde_json::from_value(b.clone()).unwrap();
        a.slice_mut(ndarray::s![b[0]..=b[3], b[1]..=b[4], b[2]..=b[5]])
            .fill(true);
    }
    Mask::on_grid(
        a,
        &Grid::axis_aligned([d[0], d[1], d[2]], [s[0], s[1], s[2]], [0.0; 3]),
    )
}

#[test]
fn matches_the_challenge_code_on_every_reference_case() {
    let r: Value = serde_json::from_str(REFERENCE).unwrap();
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let m = score_case(&build(c, "truth"), &build(c, "pred"));
        let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() < 1e-9;
        assert!(
            close(m.dice, &c["dice"]),
            "{name}: dice {} vs {}",
            m.dice,
            c["dice"]
        );
        assert!(
            // The challenge multiplies by the header's pixdim product, we by |det(affine)|
            // (the voxel's physical volume); on these float32 oblique affines they differ
            // by 4e-8 relative, so volumes are compared to 1e-6 relative.
            (m.abs_volume_diff_ml - c["abs_volume_diff_ml"].as_f64().unwrap()).abs()
                <= 1e-6 * m.abs_volume_diff_ml.max(1e-3),
            "{name}: avd {} vs {}",
            m.abs_volume_diff_ml,
            c["abs_volume_diff_ml"]
        );
        assert_eq!(
            m.abs_lesion_count_diff as u64,
            c["abs_lesion_count_diff"].as_u64().unwrap(),
            "{name}: lesion count difference"
        );
        assert!(
            close(m.lesion_f1, &c["lesion_f1"]),
            "{name}: F1 {} vs {}",
            m.lesion_f1,
            c["lesion_f1"]
        );
    }
}

/// `mask` with its voxels moved by +`sh` (zero-filled), as the script's `shift`.
fn shifted(mask: &Mask, sh: [usize; 3]) -> Mask {
    let n = mask.dims();
    let mut a = Array3::from_elem((n[0], n[1], n[2]), false);
    a.slice_mut(ndarray::s![sh[0].., sh[1].., sh[2]..])
        .assign(
            &mask
                .data()
                .slice(ndarray::s![..n[0] - sh[0], ..n[1] - sh[1], ..n[2] - sh[2]]),
        );
    Mask::on_grid(a, &mask.grid())
}

#[test]
fn matches_the_challenge_code_on_real_isles22_masks() {
    let Some(base) = strokeseg_testkit::shared("data/real/isles22") else {
        return;
    };
    let r: Value = serde_json::from_str(REFERENCE).unwrap();
    let pairs = r["real_isles22"].as_array().unwrap();
    assert!(pairs.len() >= 4);
    for c in pairs {
        let t = read_mask(&base.join(c["truth"].as_str().unwrap())).unwrap();
        let p = read_mask(&base.join(c["pred"].as_str().unwrap())).unwrap();
        let sh: [usize; 3] = serde_json::from_value(c["shift"].clone()).unwrap();
        let m = score_case(&t, &shifted(&p, sh));
        let what = format!("{} vs {} shifted {sh:?}", c["truth"], c["pred"]);
        let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() < 1e-9;
        assert_eq!(
            m.truth_lesions.len() as u64,
            c["truth_lesions"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            m.pred_lesions as u64,
            c["pred_lesions"].as_u64().unwrap(),
            "{what}"
        );
        assert!(
            close(m.dice, &c["dice"]),
            "{what}: dice {} vs {}",
            m.dice,
            c["dice"]
        );
        assert!(
            // The challenge multiplies by the header's pixdim product, we by |det(affine)|
            // (the voxel's physical volume); on these float32 oblique affines they differ
            // by 4e-8 relative, so volumes are compared to 1e-6 relative.
            (m.abs_volume_diff_ml - c["abs_volume_diff_ml"].as_f64().unwrap()).abs()
                <= 1e-6 * m.abs_volume_diff_ml.max(1e-3),
            "{what}: avd {} vs {}",
            m.abs_volume_diff_ml,
            c["abs_volume_diff_ml"]
        );
        assert!(
            close(m.lesion_f1, &c["lesion_f1"]),
            "{what}: F1 {} vs {}",
            m.lesion_f1,
            c["lesion_f1"]
        );
    }
}

/// Two voxels touching only along the (+1, −1, 0) diagonal are one 26-connected lesion,
/// whatever the memory order of the mask (masks read from NIfTI are column-major;
/// `ndarray_ndimage::label` visits lines in memory order and, on a column-major array, never
/// compares that diagonal — the cause of an earlier labelling mismatch).
#[test]
fn diagonal_neighbours_are_one_lesion_in_any_memory_order() {
    let mut c = Array3::from_elem((4, 4, 3), false);
    c[[1, 2, 1]] = true;
    c[[2, 1, 1]] = true;
    let mut f = Array3::from_shape_vec((4, 4, 3).f(), vec![false; 48]).unwrap();
    f.assign(&c);
    assert!(!f.is_standard_layout());
    let g = Grid::axis_aligned([4, 4, 3], [1.0; 3], [0.0; 3]);
    for a in [c, f] {
        let m = Mask::on_grid(a, &g);
        let s = score_case(&m, &m);
        assert_eq!(
            s.truth_lesions.len(),
            1,
            "diagonal pair split into two lesions"
        );
        assert_eq!(s.pred_lesions, 1);
    }
}
