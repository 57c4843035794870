//! A Mount workload as the orchestrator writes it: the requests the driver sends (attributes
//! built exactly as the driver builds them) and the objects they name, so that the bare program
//! can make the same calls.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keywarden_proto::csi::MountRequest;
use serde::Deserialize;

/// One Mount request, field for field.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    /// The attributes JSON (SPC parameters, pod information, tokens).
    pub attributes: String,
    /// The secrets JSON.
    #[serde(default = "null_json")]
    pub secrets: String,
    /// The volume's target path.
    pub target_path: String,
    /// Default file permission, decimal.
    #[serde(default = "default_permission")]
    pub permission: String,
    /// The objects of this request, when they are not the workload's (a burst of several
    /// SecretProviderClasses).
    #[serde(default)]
    pub objects: Option<Vec<Object>>,
}

fn null_json() -> String {
    "null".to_owned()
}

fn default_permission() -> String {
    "420".to_owned()
}

impl Request {
    /// The gRPC message.
    pub fn message(&self) -> MountRequest {
        MountRequest {
            attributes: self.attributes.clone(),
            secrets: self.secrets.clone(),
            target_path: self.target_path.clone(),
            permission: self.permission.clone(),
            current_object_version: Vec::new(),
        }
    }
}

/// One object of the SecretProviderClass, as the bare program fetches it.
#[derive(Debug, Clone, Deserialize)]
pub struct Object {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The bytes are a KMS ciphertext blob to decrypt.
    pub kms: bool,
    /// The blob is stored as base64 text.
    #[serde(default)]
    pub base64: bool,
    /// Encryption context of the blob.
    #[serde(default)]
    pub context: HashMap<String, String>,
    /// The file the provider writes it to (the objectAlias).
    pub path: String,
    /// The plaintext that was seeded, base64: what every Mount and bare fetch must return.
    pub plaintext_b64: String,
}

impl Object {
    /// The seeded plaintext.
    pub fn plaintext(&self) -> anyhow::Result<Vec<u8>> {
        BASE64
            .decode(&self.plaintext_b64)
            .with_context(|| format!("plaintext_b64 of {} is not base64", self.path))
    }
}

/// Requests and the objects each of them names.
#[derive(Debug, Clone, Deserialize)]
pub struct Workload {
    /// Mount requests: one volume for latency runs, one per pod for bursts.
    pub requests: Vec<Request>,
    /// The objects of the (first) request, in SPC order.
    pub objects: Vec<Object>,
}

/// What a Mount of the workload must return: file path → seeded plaintext.
pub type Expected = HashMap<String, Vec<u8>>;

impl Workload {
    /// Reads a workload file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let workload: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a workload", path.display()))?;
        anyhow::ensure!(
            !workload.requests.is_empty(),
            "{} has no requests",
            path.display()
        );
        Ok(workload)
    }

    /// The files every Mount of the workload's own objects must return, with their contents.
    pub fn expected(&self) -> anyhow::Result<Expected> {
        expected_of(&self.objects)
    }

    /// The files a Mount of `request` must return.
    pub fn expected_for(&self, request: &Request) -> anyhow::Result<Expected> {
        expected_of(request.objects.as_deref().unwrap_or(&self.objects))
    }
}

fn expected_of(objects: &[Object]) -> anyhow::Result<Expected> {
    objects
        .iter()
        .map(|o| Ok((o.path.clone(), o.plaintext()?)))
        .collect()
}
