//! `learning-curve` end to end with tiny models: two sizes, the curve written, finished sizes
//! skipped and an interrupted size resumed on a rerun, bad input.

use super::adapt_cli::{dataset, TINY};
use super::util::*;

fn csv_rows(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn learning_curve_two_sizes_written_and_resumed() {
    let d = tempfile::tempdir().unwrap();
    let (a, c, va, te, out) = (
        d.path().join("pool/site-a"),
        d.path().join("pool/site-c"),
        d.path().join("val"),
        d.path().join("test"),
        d.path().join("curve"),
    );
    dataset(&a, "site-a", 2, 1);
    dataset(&c, "site-c", 2, 2);
    dataset(&va, "site-a", 2, 3);
    dataset(&te, "site-c", 3, 4);
    let cmd = |epochs: &'static str| {
        let mut v: Vec<String> = [
            "learning-curve",
            "--data",
            s(&a),
            "--data",
            s(&c),
            "--val",
            s(&va),
            "--test",
            s(&te),
            "--sizes",
            "4,2",
            "--out",
            s(&out),
            "--epochs",
            epochs,
            "--max-val",
            "2",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        v.extend(TINY.iter().map(|x| x.to_string()));
        v
    };
    let run = |epochs| {
        let v = cmd(epochs);
        strokeseg(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run("1");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows = csv_rows(&out.join("curve.csv"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[0].starts_with("size,"), "{rows:?}");
    assert!(
        rows[1].starts_with("2,") && rows[2].starts_with("4,"),
        "{rows:?}"
    );
    let png = image::open(out.join("curve.png")).unwrap();
    assert!(png.width() > 100);
    assert!(
        o.stdout.contains("smallest subset reaching 95%"),
        "{}",
        o.stdout
    );
    for n in [2, 4] {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("size-{n}/test_metrics.json"))).unwrap(),
        )
        .unwrap();
        let ids = m["training_studies"].as_array().unwrap();
        assert_eq!(ids.len(), n);
        assert_eq!(m["summary"]["studies"], 3);
        // sites balanced: size 2 has one study of each site
        if n == 2 {
            let sites: Vec<bool> = ids
                .iter()
                .map(|i| i.as_str().unwrap().contains("sitea"))
                .collect();
            assert_eq!(sites.iter().filter(|&&x| x).count(), 1, "{ids:?}");
        }
    }
    // nested: size-2's studies are in size-4's
    let ids = |n: usize| -> Vec<String> {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("size-{n}/test_metrics.json"))).unwrap(),
        )
        .unwrap();
        serde_json::from_value(m["training_studies"].clone()).unwrap()
    };
    assert!(ids(2).iter().all(|i| ids(4).contains(i)));
    // rerun: both sizes skipped, nothing retrained
    let t2 = std::fs::metadata(out.join("size-2/test_metrics.json"))
        .unwrap()
        .modified()
        .unwrap();
    let o = run("1");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stderr.matches("done earlier").count(), 2, "{}", o.stderr);
    assert!(!o.stderr.contains("other studies"), "{}", o.stderr);
    let t2b = std::fs::metadata(out.join("size-2/test_metrics.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(t2, t2b);
    // an interrupted size (no test metrics yet) continues from its checkpoint: one more epoch
    std::fs::remove_file(out.join("size-4/test_metrics.json")).unwrap();
    let o = run("2");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let log = csv_rows(&out.join("size-4/train_log.csv"));
    assert_eq!(log.len(), 3, "{log:?}"); // header + epoch 1 (first run) + epoch 2 (resumed)
    assert!(out.join("size-4/test_metrics.json").is_file());
    // bad input: exit 2 with the path named
    let o = strokeseg(&[
        "learning-curve",
        "--data",
        s(&a),
        "--val",
        s(&va),
        "--test",
        s(&te),
        "--sizes",
        "50",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains(s(&a)), "{}", o.stderr);
    let missing = d.path().join("no-such-test");
    let o = strokeseg(&[
        "learning-curve",
        "--data",
        s(&a),
        "--val",
        s(&va),
        "--test",
        s(&missing),
        "--sizes",
        "2",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("no-such-test"), "{}", o.stderr);
}
