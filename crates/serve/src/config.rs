//! The service's one TOML configuration file, with defaults that work on localhost.

use crate::error::{ensure, err, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `strokeseg serve` can be told. Every field has a default, so an empty file (or
/// no file) gives a working service on localhost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder for received instances, results and the job database (created if missing).
    pub data_dir: PathBuf,
    /// HTTP API address (port 0: any free port).
    pub http_addr: SocketAddr,
    /// DICOM C-STORE listener address (port 0: any free port).
    pub dicom_addr: SocketAddr,
    /// Our application entity title.
    pub ae_title: String,
    /// Bearer token for every HTTP route. When unset, `token_file` is read; when that is
    /// missing too, a random token is generated and written there (mode 0600).
    pub token: Option<String>,
    /// Where the token lives when `token` is unset (default: DATA_DIR/token).
    pub token_file: Option<PathBuf>,
    /// More people who may sign in, each with their own token and role (`[[users]]`). The
    /// `token` above (or the token file) belongs to the user `admin`, role `admin`.
    pub users: Vec<User>,
    /// How long a browser sign-in lasts, in hours (the session cookie's expiry).
    pub session_hours: f64,
    /// Mark the session cookie `Secure` (send it over HTTPS only). Set it when a TLS proxy
    /// stands in front of the service; plain HTTP on localhost needs it off.
    pub secure_cookie: bool,
    /// A study is complete when no new instance arrived for this many seconds.
    pub quiet_period_s: f64,
    /// Studies processed at the same time (the model already uses every core).
    pub workers: usize,
    /// Largest accepted HTTP upload (one DICOM instance), in MiB.
    pub max_upload_mib: usize,
    /// Deepest nesting of DICOM sequences and items accepted in a received instance; deeper
    /// instances are refused before parsing (a crafted one would exhaust the stack).
    pub max_dicom_depth: u32,
    /// DICOM associations open at once; more are rejected (A-ASSOCIATE-RJ, transient) so that
    /// idle or hostile peers cannot pile up threads and memory.
    pub max_associations: usize,
    /// Largest study accepted, in MiB of received instances. Processing holds about the
    /// study's pixel data in memory a few times over, so this bounds the memory per study
    /// (compressed transfer syntaxes expand when decoded: allow for it). Instances past it
    /// are refused (C-STORE 0xA700, HTTP 413) and the study's job fails with the reason,
    /// rather than a part of the study being processed as if it were all of it.
    pub max_study_mib: usize,
    /// Where results go, if anywhere.
    pub forward: Forward,
}

/// One person who may sign in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Name shown in the worklist and used for acknowledgements (no patient data).
    pub name: String,
    /// Their token: the password of the sign-in page and the bearer token of the API.
    pub token: String,
    /// What they may do.
    #[serde(default)]
    pub role: Role,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// See the worklist, studies and results; acknowledge alerts; upload instances.
    #[default]
    Read,
    /// Also retry a failed job or re-run a finished one.
    Admin,
}

/// Destinations for the DICOM results (SEG, Secondary Capture).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Forward {
    /// Send with C-STORE to this DICOM node.
    pub dicom: Option<DicomNode>,
    /// Send with DICOMweb STOW-RS to this service.
    pub stow: Option<StowTarget>,
}

/// A remote DICOM node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DicomNode {
    /// host:port.
    pub address: String,
    /// Its AE title (called AE).
    pub ae_title: String,
}

/// A DICOMweb service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StowTarget {
    /// Base URL of the DICOMweb service (…/dicom-web); `/studies` is appended.
    pub url: String,
    /// HTTP basic-auth user, if needed.
    #[serde(default)]
    pub username: Option<String>,
    /// HTTP basic-auth password.
    #[serde(default)]
    pub password: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("strokeseg-serve-data"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dicom_addr: SocketAddr::from(([127, 0, 0, 1], 11112)),
            ae_title: "STROKESEG".into(),
            token: None,
            token_file: None,
            users: Vec::new(),
            session_hours: 12.0,
            secure_cookie: false,
            quiet_period_s: 10.0,
            workers: 1,
            max_upload_mib: 512,
            max_dicom_depth: strokeseg_io::dicom::DicomLimits::default().max_depth,
            max_associations: 32,
            max_study_mib: 4096,
            forward: Forward::default(),
        }
    }
}

impl Config {
    /// Reads a TOML file.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML, has unknown keys, or has impossible values.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err!(Config, "{}: cannot read: {e}", path.display()))?;
        let c: Config =
            toml::from_str(&text).map_err(|e| err!(Config, "{}: {e}", path.display()))?;
        c.validate()
            .map_err(|e| err!(Config, "{}: {e}", path.display()))?;
        Ok(c)
    }

    /// Checks values that TOML types cannot.
    ///
    /// # Errors
    /// A message naming the bad key.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            Config,
            self.quiet_period_s.is_finite() && self.quiet_period_s >= 0.0,
            "quiet_period_s must be a number of seconds >= 0"
        );
        ensure!(Config, self.workers >= 1, "workers must be at least 1");
        ensure!(
            Config,
            !self.ae_title.is_empty() && self.ae_title.len() <= 16,
            "ae_title must be 1 to 16 characters"
        );
        ensure!(
            Config,
            (1..=1024).contains(&self.max_associations),
            "max_associations must be 1 to 1024"
        );
        ensure!(
            Config,
            (4..=256).contains(&self.max_dicom_depth),
            "max_dicom_depth must be 4 to 256"
        );
        ensure!(
            Config,
            (1..=1_048_576).contains(&self.max_study_mib),
            "max_study_mib must be 1 to 1048576 (1 TiB)"
        );
        let token_ok = |t: &str| {
            t.chars().filter(|c| !c.is_whitespace()).count() >= 8
                && !t.starts_with(char::is_whitespace)
                && !t.ends_with(char::is_whitespace)
        };
        if let Some(t) = &self.token {
            ensure!(
                Config,
                token_ok(t),
                "token must be at least 8 characters that are not spaces, with none at either end"
            );
        }
        ensure!(
            Config,
            self.session_hours.is_finite()
                && self.session_hours > 0.0
                && self.session_hours <= 24.0 * 30.0,
            "session_hours must be more than 0 and at most 720 (30 days)"
        );
        let mut names = std::collections::HashSet::from(["admin"]);
        let mut tokens: std::collections::HashSet<&str> =
            self.token.iter().map(String::as_str).collect();
        for u in &self.users {
            ensure!(
                Config,
                !u.name.is_empty()
                    && u.name.len() <= 64
                    && u.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "users: name {:?} must be 1 to 64 letters, digits, '.', '_' or '-'",
                u.name
            );
            ensure!(
                Config,
                names.insert(&u.name),
                "users: name {:?} is used twice (admin is the token's user)",
                u.name
            );
            ensure!(Config,
                token_ok(&u.token),
                "users: the token of {:?} must be at least 8 characters that are not spaces, with none at either end",
                u.name
            );
            ensure!(
                Config,
                tokens.insert(&u.token),
                "users: the token of {:?} is also another user's",
                u.name
            );
        }
        Ok(())
    }

    /// The configuration as TOML (what `strokeseg serve --print-config` shows).
    ///
    /// # Errors
    /// Serialisation errors (not expected).
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// The DICOM structure limits for received instances.
    #[must_use]
    pub fn dicom_limits(&self) -> strokeseg_io::dicom::DicomLimits {
        strokeseg_io::dicom::DicomLimits {
            max_depth: self.max_dicom_depth,
        }
    }

    /// The token file path.
    #[must_use]
    pub fn token_path(&self) -> PathBuf {
        self.token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults_and_unknown_keys_are_rejected() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c, Config::default());
        assert!(toml::from_str::<Config>("quiet_perod_s = 3").is_err());
        let c: Config = toml::from_str(
            "quiet_period_s = 2.5\n[forward.dicom]\naddress = \"127.0.0.1:4242\"\nae_title = \"ORTHANC\"\n",
        )
        .unwrap();
        assert_eq!(c.quiet_period_s, 2.5);
        assert_eq!(c.forward.dicom.unwrap().ae_title, "ORTHANC");
        let bad = Config {
            workers: 0,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }

    /// Issue 16 item 16: a token of 8 spaces passed validation.
    #[test]
    fn blank_or_padded_tokens_and_absurd_depths_are_refused() {
        for t in ["        ", "  abc   def  ", " abcdefgh", "abcdefgh "] {
            let c = Config {
                token: Some(t.into()),
                ..Config::default()
            };
            assert!(c.validate().is_err(), "{t:?} accepted");
        }
        let ok = Config {
            token: Some("abcdefgh".into()),
            ..Config::default()
        };
        assert!(ok.validate().is_ok());
        let deep = Config {
            max_dicom_depth: 100_000,
            ..Config::default()
        };
        assert!(deep.validate().is_err());
    }

    #[test]
    fn users_with_roles_are_read_and_checked() {
        let c: Config = toml::from_str(
            "token = \"admin-token-1\"\nsession_hours = 8\n\
             [[users]]\nname = \"reader.1\"\ntoken = \"reader-token-1\"\n\
             [[users]]\nname = \"boss\"\ntoken = \"boss-token-11\"\nrole = \"admin\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.users[0].role, Role::Read, "read is the default role");
        assert_eq!(c.users[1].role, Role::Admin);
        assert!(toml::from_str::<Config>(
            "[[users]]\nname=\"x\"\ntoken=\"abcdefgh\"\nrole=\"root\""
        )
        .is_err());
        let user = |name: &str, token: &str| User {
            name: name.into(),
            token: token.into(),
            role: Role::Read,
        };
        let with = |users: Vec<User>| Config {
            token: Some("admin-token-1".into()),
            users,
            ..Config::default()
        };
        for (bad, why) in [
            (vec![user("admin", "other-token-1")], "admin is taken"),
            (vec![user("a b", "other-token-1")], "space in a name"),
            (vec![user("", "other-token-1")], "empty name"),
            (vec![user("ana", "short")], "short token"),
            (vec![user("ana", "admin-token-1")], "the admin's token"),
            (
                vec![user("ana", "other-token-1"), user("ana", "other-token-2")],
                "a name twice",
            ),
            (
                vec![user("ana", "other-token-1"), user("ben", "other-token-1")],
                "a token twice",
            ),
        ] {
            assert!(with(bad).validate().is_err(), "accepted: {why}");
        }
        for h in [0.0, -1.0, f64::NAN, 721.0] {
            let c = Config {
                session_hours: h,
                ..Config::default()
            };
            assert!(c.validate().is_err(), "session_hours {h} accepted");
        }
    }
}
