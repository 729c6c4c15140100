//! The plan: everything needed to turn a study into model input and back, saved beside the
//! weights as `plan.json` so a model folder stands alone (as nnU-Net's plans do).

use serde::{Deserialize, Serialize};
use std::path::Path;
use strokeseg_model::UNet3dConfig;
use strokeseg_preproc::PrepConfig;

/// File name of the plan in a model folder.
pub const PLAN_FILE: &str = "plan.json";

/// A model folder's plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Preprocessing (spacing, crop margin, mask dilation).
    pub prep: PrepConfig,
    /// Network hyper-parameters.
    pub model: UNet3dConfig,
    /// Sliding-window size at inference [D, H, W].
    pub window: [usize; 3],
    /// Input channels in order.
    pub channels: Vec<String>,
    /// Where the training data came from, and whether it was synthetic.
    pub training_data: Vec<String>,
    /// True when every training study was synthetic.
    pub synthetic_only: bool,
    /// How `prep.spacing_mm` was chosen (absent in plans written before spacing planning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing_plan: Option<SpacingPlan>,
}

impl Plan {
    /// `[x, y, z]` multiples the prepared grid must have for this network.
    #[must_use]
    pub fn grid_multiple(&self) -> [usize; 3] {
        let [d, h, w] = self.model.size_multiple();
        [w, h, d]
    }

    /// Writes `dir/plan.json`.
    ///
    /// # Errors
    /// The I/O error, with the path.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let p = dir.join(PLAN_FILE);
        std::fs::write(&p, serde_json::to_string_pretty(self).unwrap_or_default())
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    }

    /// Reads `dir/plan.json`.
    ///
    /// # Errors
    /// When missing or malformed (the message names the file).
    pub fn load(dir: &Path) -> std::io::Result<Plan> {
        let p = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", p.display()),
            )
        })
    }
}

/// How the target spacing was chosen (recorded in `plan.json`; the planning itself is
/// `strokeseg_train::spacing`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpacingPlan {
    /// `"median"`, `"median+anisotropic-p10"` (nnU-Net's rule applied), or `"given"`
    /// (`--spacing`).
    pub method: String,
    /// Studies whose headers were read.
    pub studies: usize,
    /// Per-axis median spacing [x, y, z] (mm) of those studies (absent when given).
    pub median_mm: Option<[f64; 3]>,
    /// The axis nnU-Net's anisotropy rule moved to its 10th percentile (0 = x, 2 = z).
    pub anisotropic_axis: Option<usize>,
    /// True when an axis was clamped to the planner's smallest or largest spacing.
    pub clamped: bool,
    /// Studies skipped (no NIfTI DWI to read a header from, e.g. DICOM), with the reason.
    pub skipped: Vec<String>,
}
