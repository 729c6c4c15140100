//! `strokeseg licenses`: the files built into the binary (`strokeseg-assets`), their sizes,
//! licences and attributions, and (with `--unpack`) the folders they are unpacked into.

use crate::cli::LicensesArgs;
use crate::Status;

/// Runs `licenses`.
pub fn run(a: &LicensesArgs) -> anyhow::Result<Status> {
    println!(
        "strokeseg {} (Apache-2.0). Research use only; not a medical device.\n",
        env!("CARGO_PKG_VERSION")
    );
    println!("Built into this binary:\n");
    for b in strokeseg_assets::ALL {
        println!(
            "== {} ({:.1} MB): {}",
            b.name,
            b.size() as f64 / 1e6,
            b.what
        );
        for (name, _) in b.files {
            println!("   {name}");
        }
        if a.unpack {
            println!("   unpacked in {}", b.dir()?.display());
        }
        println!();
        for line in b.notice.lines() {
            println!("   {line}");
        }
        println!();
    }
    println!(
        "== NiiVue {} ({:.1} MB): the image viewer of `strokeseg serve`'s study page \
         (web/vendor/niivue.umd.js, unmodified)\n",
        strokeseg_serve::NIIVUE_VERSION,
        strokeseg_serve::NIIVUE_JS_BYTES as f64 / 1e6
    );
    for line in strokeseg_serve::NIIVUE_LICENSE.lines() {
        println!("   {line}");
    }
    println!();
    println!(
        "Override them with --model / $STROKESEG_MODEL, --template / $STROKESEG_TEMPLATE_DIR and \
         --atlas / $STROKESEG_ATLAS (--no-atlas for the coarse location rule)."
    );
    Ok(Status::Ok)
}
