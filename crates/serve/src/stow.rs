//! DICOMweb STOW-RS client (PS3.18 §10.5): POST `{base}/studies` with a
//! `multipart/related; type="application/dicom"` body holding the Part-10 files.
//! The multipart body is built here because it is a dozen lines of framing; HTTP is ureq.

use crate::config::StowTarget;
use crate::error::{bail, err, Result, ServeError};
use base64::Engine;
use std::path::PathBuf;
use std::time::Duration;

/// Builds the multipart/related body; returns (content type, body).
fn multipart(files: &[(PathBuf, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = format!("strokeseg-{:016x}", rand::random::<u64>());
    let mut body = Vec::new();
    for (_, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        body,
    )
}

/// Stores `files` with one STOW-RS request; returns the HTTP status.
///
/// # Errors
/// Unreadable files, network errors, or a non-2xx answer (with the start of its body).
pub fn store(target: &StowTarget, files: &[PathBuf]) -> Result<u16> {
    let parts = files
        .iter()
        .map(|f| {
            Ok((
                f.clone(),
                std::fs::read(f)
                    .map_err(|e| ServeError::io(format!("{}: cannot read", f.display()), e))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let (ctype, body) = multipart(&parts);
    let url = format!("{}/studies", target.url.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(&url)
        .header("Content-Type", &ctype)
        .header("Accept", "application/dicom+json");
    if let Some(user) = &target.username {
        let pw = target.password.clone().unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        req = req.header("Authorization", &format!("Basic {token}"));
    }
    let mut resp = req
        .send(&body[..])
        .map_err(|e| err!(Forward, "STOW-RS to {url} failed: {e}"))?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let head: String = text.chars().take(300).collect();
        bail!(Forward, "STOW-RS to {url}: HTTP {status}: {head}");
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_frames_each_file() {
        let (ctype, body) =
            multipart(&[("a".into(), b"AAA".to_vec()), ("b".into(), b"BB".to_vec())]);
        let boundary = ctype.rsplit("boundary=").next().unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text.matches(&format!("--{boundary}\r\n")).count(), 2);
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert!(text.contains("\r\n\r\nAAA\r\n"));
    }
}
