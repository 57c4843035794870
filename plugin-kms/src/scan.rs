//! `keywarden-kms scan`: how many objects etcd holds under each key, so that a key is retired
//! only when nothing is stored under it any more (docs/kms-rotation.md).
//!
//! Reads etcd directly (read-only, see [`crate::etcd`]) and classifies every value by the prefix
//! kube-apiserver writes: `k8s:enc:kms:v2:<name>:` (the key id is in the stored
//! `EncryptedObject`), `k8s:enc:kms:v1:<name>:` (the key is in this plugin's v1beta1 ciphertext),
//! the local `aescbc`/`aesgcm`/`secretbox` providers, and anything else as `identity` (stored
//! in plain text). Needs no AWS access and decrypts nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use prost::Message;

use crate::envelope;
use crate::etcd::{Etcd, EtcdError, TlsFiles};

/// Count the objects etcd holds under each key (read-only; no AWS access).
#[derive(Debug, Parser)]
#[command(name = "keywarden-kms scan", version)]
pub struct ScanArgs {
    /// etcd client URL (`https://…` with the certificate flags, or `http://…`).
    #[arg(long, default_value = "https://127.0.0.1:2379")]
    pub etcd_endpoint: String,

    /// CA bundle of etcd's serving certificate.
    #[arg(long)]
    pub etcd_cacert: Option<PathBuf>,

    /// Client certificate (the apiserver's etcd client certificate will do).
    #[arg(long, requires = "etcd_key")]
    pub etcd_cert: Option<PathBuf>,

    /// Client private key.
    #[arg(long, requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,

    /// Key prefix to scan (repeatable): the resources the EncryptionConfiguration encrypts.
    #[arg(long = "prefix", default_value = "/registry/secrets/")]
    pub prefixes: Vec<String>,

    /// Keys read per etcd request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..))]
    pub page_size: u16,

    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = crate::cli::parse_duration)]
    pub timeout: Duration,

    /// `text` (a table) or `json`.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// An aligned table.
    Text,
    /// One JSON object.
    Json,
}

/// How one stored object is protected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Protection {
    /// `kms/v2`, `kms/v1`, `aescbc`, `aesgcm`, `secretbox` or `identity`.
    pub provider: String,
    /// The provider's name in the EncryptionConfiguration (empty for identity).
    pub name: String,
    /// The KMS key id, or a note when it cannot be known.
    pub key_id: String,
}

/// The `EncryptedObject` kube-apiserver stores for KMS v2 (only the field read here).
#[derive(Clone, PartialEq, Message)]
struct EncryptedObject {
    #[prost(string, tag = "2")]
    key_id: String,
}

/// Classifies one stored value.
pub fn classify(value: &[u8]) -> Protection {
    let protection = |provider: &str, name: &str, key_id: &str| Protection {
        provider: provider.to_owned(),
        name: name.to_owned(),
        key_id: key_id.to_owned(),
    };
    let Some(rest) = value.strip_prefix(b"k8s:enc:") else {
        return protection("identity", "", "");
    };
    // `<provider>:v<n>:<name>:<payload>`, the name never containing ':' (apiserver rule).
    let mut parts = rest.splitn(4, |b| *b == b':');
    let (Some(kind), Some(version), Some(name), Some(payload)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return protection("unknown", "", "unparsable k8s:enc: prefix");
    };
    let kind = String::from_utf8_lossy(kind);
    let version = String::from_utf8_lossy(version);
    let name = String::from_utf8_lossy(name);
    match (kind.as_ref(), version.as_ref()) {
        ("kms", "v2") => match EncryptedObject::decode(payload) {
            Ok(obj) if !obj.key_id.is_empty() => protection("kms/v2", &name, &obj.key_id),
            _ => protection("kms/v2", &name, "(unreadable EncryptedObject)"),
        },
        ("kms", "v1") => {
            let key =
                v1_key(payload).unwrap_or_else(|| "(not recorded: written before 0x02)".into());
            protection("kms/v1", &name, &key)
        }
        (other, _) => protection(other, &name, ""),
    }
}

/// The key a KMS v1 object names: `u16 length | encrypted DEK | data`, the encrypted DEK being
/// this plugin's v1beta1 ciphertext.
fn v1_key(payload: &[u8]) -> Option<String> {
    let (len, rest) = payload.split_first_chunk::<2>()?;
    let dek = rest.get(..usize::from(u16::from_be_bytes(*len)))?;
    envelope::unframe_v1beta1(dek).ok()?.key_id
}

/// Objects per protection, and in all.
#[derive(Debug, Default)]
pub struct Counts {
    /// Objects per protection.
    pub by_key: BTreeMap<Protection, u64>,
    /// Objects scanned.
    pub total: u64,
}

impl Counts {
    /// Counts one stored value.
    pub fn add(&mut self, value: &[u8]) {
        *self.by_key.entry(classify(value)).or_default() += 1;
        self.total += 1;
    }

    /// The report in `output` format.
    pub fn render(&self, prefixes: &[String], output: Output) -> String {
        match output {
            Output::Json => {
                let counts: Vec<_> = self
                    .by_key
                    .iter()
                    .map(|(p, n)| {
                        serde_json::json!({
                            "provider": p.provider, "name": p.name, "key_id": p.key_id, "objects": n,
                        })
                    })
                    .collect();
                let report = serde_json::json!({
                    "prefixes": prefixes, "total": self.total, "counts": counts,
                });
                format!("{report}\n")
            }
            Output::Text => {
                let mut rows = vec![["PROVIDER", "NAME", "KEY", "OBJECTS"].map(str::to_owned)];
                for (p, n) in &self.by_key {
                    let dash = |s: &str| {
                        if s.is_empty() {
                            "-".to_owned()
                        } else {
                            s.to_owned()
                        }
                    };
                    rows.push([
                        p.provider.clone(),
                        dash(&p.name),
                        dash(&p.key_id),
                        n.to_string(),
                    ]);
                }
                rows.push([
                    "total".into(),
                    String::new(),
                    String::new(),
                    self.total.to_string(),
                ]);
                let widths: Vec<usize> = (0..4)
                    .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
                    .collect();
                let mut out = format!("scanned {}\n", prefixes.join(", "));
                for row in rows {
                    let line: Vec<String> = row
                        .iter()
                        .zip(&widths)
                        .map(|(cell, w)| format!("{cell:<w$}"))
                        .collect();
                    out.push_str(line.join("  ").trim_end());
                    out.push('\n');
                }
                out
            }
        }
    }
}

/// Scans every prefix and returns the report.
pub async fn run(args: &ScanArgs) -> Result<String, EtcdError> {
    let tls = TlsFiles {
        ca: args.etcd_cacert.as_deref(),
        cert: args.etcd_cert.as_deref(),
        key: args.etcd_key.as_deref(),
    };
    let etcd = Etcd::new(&args.etcd_endpoint, &tls, args.timeout)?;
    let mut counts = Counts::default();
    for prefix in &args.prefixes {
        etcd.range_prefix(
            prefix.as_bytes(),
            usize::from(args.page_size),
            |_, value| {
                counts.add(value);
            },
        )
        .await?;
    }
    Ok(counts.render(&args.prefixes, args.output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Context, frame_v1beta1};

    #[test]
    fn stored_values_are_classified_by_what_protects_them() {
        let v2 = EncryptedObject {
            key_id: "arn:aws:kms:r:1:key/a".into(),
        };
        let mut stored = b"k8s:enc:kms:v2:keywarden:".to_vec();
        stored.extend(v2.encode_to_vec());
        let cipher =
            frame_v1beta1(&[7; 100], "arn:aws:kms:r:1:key/b", &Context::new()).expect("framed");
        let mut v1 = b"k8s:enc:kms:v1:old:".to_vec();
        v1.extend((cipher.len() as u16).to_be_bytes());
        v1.extend(&cipher);
        v1.extend(b"sealed data");
        type Expected<'a> = (&'a str, &'a str, &'a str);
        let cases: [(&[u8], Expected<'_>); 6] = [
            (&stored, ("kms/v2", "keywarden", "arn:aws:kms:r:1:key/a")),
            (&v1, ("kms/v1", "old", "arn:aws:kms:r:1:key/b")),
            (b"k8s:enc:aescbc:v1:key1:xxxx", ("aescbc", "key1", "")),
            (b"k8s\x00{\"kind\":\"Secret\"}", ("identity", "", "")),
            (
                b"k8s:enc:kms:v2:keywarden:\xff\xff",
                ("kms/v2", "keywarden", "(unreadable EncryptedObject)"),
            ),
            (
                b"k8s:enc:kms",
                ("unknown", "", "unparsable k8s:enc: prefix"),
            ),
        ];
        for (value, (provider, name, key)) in cases {
            let got = classify(value);
            assert_eq!(
                (
                    got.provider.as_str(),
                    got.name.as_str(),
                    got.key_id.as_str()
                ),
                (provider, name, key)
            );
        }
    }

    #[test]
    fn reports_count_per_key() {
        let mut counts = Counts::default();
        for value in [&b"plain"[..], b"plain", b"k8s:enc:aesgcm:v1:k:x"] {
            counts.add(value);
        }
        let text = counts.render(&["/registry/secrets/".into()], Output::Text);
        assert!(text.contains("identity  -     -    2"), "{text}");
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.starts_with("total") && l.ends_with('3')),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&counts.render(&[], Output::Json)).expect("json");
        assert_eq!(json["total"], 3);
        assert_eq!(json["counts"][1]["objects"], 2);
    }
}
