//! [`SparseField`]: fractions on a box of the template grid.

use ndarray::Array3;

use crate::template::Template;

/// A field of fractions 0–1 on a box of the template grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseField {
    /// Template voxel of `data[[0, 0, 0]]`.
    pub origin: [usize; 3],
    /// Fractions: `data[[a, b, c]]` belongs to template voxel `origin + [a, b, c]`.
    pub data: Array3<f32>,
}

impl SparseField {
    /// Σ fraction × `voxel_ml`.
    #[must_use]
    pub fn volume_ml(&self, voxel_ml: f64) -> f64 {
        self.data.iter().map(|&f| f64::from(f)).sum::<f64>() * voxel_ml
    }

    /// Fraction-weighted centroid in template world (MNI) millimetres; the box centre when
    /// the field is empty.
    #[must_use]
    pub fn centroid_world(&self, tpl: &Template) -> [f64; 3] {
        let (mut s, mut m) = (0.0f64, [0.0f64; 3]);
        for ((a, b, c), &f) in self.data.indexed_iter() {
            let f = f64::from(f);
            s += f;
            m[0] += f * a as f64;
            m[1] += f * b as f64;
            m[2] += f * c as f64;
        }
        let d = self.data.dim();
        let local = if s > 0.0 {
            [m[0] / s, m[1] / s, m[2] / s]
        } else {
            [
                (d.0 as f64 - 1.0) / 2.0,
                (d.1 as f64 - 1.0) / 2.0,
                (d.2 as f64 - 1.0) / 2.0,
            ]
        };
        tpl.grid.voxel_to_world([
            self.origin[0] as f64 + local[0],
            self.origin[1] as f64 + local[1],
            self.origin[2] as f64 + local[2],
        ])
    }

    /// Fraction at a template voxel (0 outside the box).
    #[must_use]
    pub fn get(&self, ijk: [usize; 3]) -> f32 {
        let o = self.origin;
        if ijk[0] < o[0] || ijk[1] < o[1] || ijk[2] < o[2] {
            return 0.0;
        }
        self.data
            .get([ijk[0] - o[0], ijk[1] - o[1], ijk[2] - o[2]])
            .copied()
            .unwrap_or(0.0)
    }

    /// Template voxels with a fraction > 0, and the fraction.
    pub fn iter_nonzero(&self) -> impl Iterator<Item = ([usize; 3], f32)> + '_ {
        let o = self.origin;
        self.data
            .indexed_iter()
            .filter(|(_, &f)| f > 0.0)
            .map(move |((a, b, c), &f)| ([o[0] + a, o[1] + b, o[2] + c], f))
    }

    /// True when a voxel > 0 here overlaps or touches (26-neighbourhood) a voxel > 0 of
    /// `other`, so the two would merge into one connected component.
    #[must_use]
    pub fn touches(&self, other: &SparseField) -> bool {
        let (sd, od) = (self.data.dim(), other.data.dim());
        let (se, oe) = ([sd.0, sd.1, sd.2], [od.0, od.1, od.2]);
        for ax in 0..3 {
            // boxes more than one voxel apart never touch
            if self.origin[ax] > other.origin[ax] + oe[ax]
                || other.origin[ax] > self.origin[ax] + se[ax]
            {
                return false;
            }
        }
        for (v, _) in self.iter_nonzero() {
            for da in 0..3 {
                for db in 0..3 {
                    for dc in 0..3 {
                        let n = [v[0] + da, v[1] + db, v[2] + dc];
                        if n.iter().all(|&x| x >= 1)
                            && other.get([n[0] - 1, n[1] - 1, n[2] - 1]) > 0.0
                        {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }
}
