//! `keywarden-provider check`: validate a SecretProviderClass manifest offline with the same
//! rules a Mount applies (and the SecretSyncs beside it that read it, `secret_sync.rs`), and with
//! `--out DIR` perform a real fetch into a directory using the local AWS credentials and the
//! provider's own writer.
//!
//! The manifest is read once, at most `MAX_MANIFEST_BYTES`, with the bounded YAML reader of
//! `objects` (anchors and aliases refused), so a small file cannot expand into gigabytes.
//! `--out` is an operator's disk, not a pod's tmpfs: the writer's `CHECK_OUT` rules apply.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use keywarden_proto::csi::MountRequest;
use serde::Deserialize as _;
use serde_json::Value;

use crate::aws::AwsClients;
use crate::cache::PlaintextCache;
use crate::catalogue;
use crate::credentials::CredentialCache;
use crate::http_client::HttpClient;
use crate::identity::{IdentityPolicy, IdentityResolver};
use crate::limits::{self, MAX_MANIFEST_BYTES};
use crate::metrics::Metrics;
use crate::mount::{Limits, Mounter, Output};
use crate::params::{self, IdentityKind};
use crate::writer;

/// `check` options.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The SecretProviderClass manifest (YAML). SecretSyncs in the same file that name the class
    /// are checked against its files; other documents are ignored.
    #[arg(long)]
    pub spc: PathBuf,
    /// Namespace of the pods that would mount it (default: the manifest's, else `default`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Fetch for real into this directory, with the local AWS credentials. It must be missing
    /// (it is created 0700), empty, or written by an earlier `check --out`: the writer never
    /// removes what it did not create. Files are written 0600 or narrower, directories 0700.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Path-style S3 addressing (local endpoints).
    #[arg(long, env = "KEYWARDEN_S3_FORCE_PATH_STYLE", action = clap::ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_force_path_style: bool,
    /// AWS region when the manifest gives none.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Manifest {
    #[serde(rename = "apiVersion")]
    api_version: String,
    #[serde(default)]
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Spec {
    provider: String,
    #[serde(default)]
    parameters: BTreeMap<String, Value>,
}

/// Runs `check`; returns the report for the user.
pub async fn run(args: &CheckArgs) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(&args.spc).with_context(|| catalogue::reading(args.spc.display()))?;
    let text = read_bounded(file, &args.spc)?;
    let documents = crate::objects::yaml::read_manifest(&text)
        .map_err(|e| anyhow::anyhow!(catalogue::manifest_yaml(e)))?;
    drop(text);
    let manifest = find_spc(&documents)?;
    if !matches!(
        manifest.api_version.as_str(),
        "secrets-store.csi.x-k8s.io/v1" | "secrets-store.csi.x-k8s.io/v1alpha1"
    ) {
        bail!(catalogue::wrong_api_version(&limits::quote(
            &manifest.api_version
        )));
    }
    if manifest.spec.provider != "keywarden" {
        bail!(catalogue::wrong_provider(&limits::quote(
            &manifest.spec.provider
        )));
    }
    let name = manifest
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| "unnamed".into());
    let namespace = args
        .namespace
        .clone()
        .or(manifest.metadata.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let mut attributes: HashMap<String, String> = HashMap::new();
    for (key, value) in &manifest.spec.parameters {
        let Value::String(s) = value else {
            bail!(catalogue::parameter_not_string(key));
        };
        attributes.insert(key.clone(), s.clone());
    }
    attributes.insert("csi.storage.k8s.io/pod.namespace".into(), namespace.clone());
    attributes.insert(
        "csi.storage.k8s.io/pod.name".into(),
        "keywarden-check".into(),
    );
    attributes.insert("secretProviderClass".into(), name.clone());
    let request = MountRequest {
        attributes: serde_json::to_string(&attributes)?,
        secrets: "null".into(),
        target_path: args
            .out
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        permission: "420".into(),
        current_object_version: vec![],
    };
    let mut parsed = params::parse(&request).map_err(anyhow::Error::new)?;
    let mut report = format!(
        "SecretProviderClass {namespace}/{name}: {} object(s) valid, identity {}\n",
        parsed.objects.len(),
        parsed.identity.as_str()
    );
    for object in parsed.objects.iter() {
        let alias = match object.source {
            // Its members are only known once listed, as the pod's identity.
            crate::objects::Source::S3Prefix { .. } => {
                format!("{}/<each key under the prefix>", object.alias)
            }
            _ => object.alias.clone(),
        };
        report.push_str(&format!(
            "  {} -> {alias} ({:04o})\n",
            object.label, object.mode
        ));
        for jp in &object.jmes_paths {
            report.push_str(&format!(
                "    jmesPath {:?} -> {} ({:04o})\n",
                jp.path, jp.alias, jp.mode
            ));
        }
    }
    // SecretSyncs in the same file that read this class: every sourcePath must be one of its
    // files, in the form the sync controller's CRD accepts.
    let files: Vec<&str> = parsed
        .objects
        .iter()
        .flat_map(|o| {
            std::iter::once(o.alias.as_str()).chain(o.jmes_paths.iter().map(|j| j.alias.as_str()))
        })
        .collect();
    report.push_str(&crate::secret_sync::check(
        &documents, &name, &namespace, &files,
    )?);
    let Some(out) = &args.out else {
        return Ok(report);
    };

    // Only the user may enter a directory made here; an existing one keeps its mode (what is
    // written inside is 0700 and 0600 either way, docs/decisions.md).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .with_context(|| catalogue::creating(out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| catalogue::resolving(out.display()))?;
    // Refused before any AWS call: a directory holding files the writer did not create, or
    // another writer's (a Kubernetes volume's) generation.
    let rules = writer::Rules::CHECK_OUT;
    writer::check_target_with(&out, rules)
        .map_err(|e| anyhow::anyhow!(catalogue::out_refused(e)))?;
    parsed.target_path = out.display().to_string();
    // The local credentials stand in for whatever identity the pods would use.
    parsed.identity = IdentityKind::Node;
    let aws = Arc::new(AwsClients::from_env(args.region.clone(), args.s3_force_path_style).await);
    let policy = IdentityPolicy {
        allow_node: true,
        node_namespaces: Default::default(),
    };
    let limits = Limits {
        max_object_bytes: limits::DEFAULT_MAX_OBJECT_BYTES,
        max_response_bytes: limits::DEFAULT_MAX_RESPONSE_BYTES,
        max_prefix_objects: crate::limits::DEFAULT_MAX_PREFIX_OBJECTS,
    };
    let metrics = Metrics::register(&mut prometheus_client::registry::Registry::default());
    let cache = Arc::new(PlaintextCache::new(
        Duration::ZERO,
        limits.max_response_bytes,
        metrics.clone(),
    ));
    // The files come back in the response and are written below under `CHECK_OUT`, not the
    // rules of a pod's volume.
    let output = Output::Driver;
    let http = HttpClient::new(rustls::RootCertStore::empty(), Duration::from_secs(2))?;
    let credentials = CredentialCache::new(http, vec![], metrics.clone());
    let identities = Arc::new(IdentityResolver::new(
        policy,
        "sts.amazonaws.com".into(),
        None,
        credentials,
    ));
    let mounter = Mounter::new(aws, identities, limits, output, cache, metrics);
    // The same bounds as the provider's defaults: `check --out` reads what a tenant wrote too.
    let budget = crate::budget::NodeBudget::new(4 * limits.max_response_bytes)
        .mount(limits.max_response_bytes);
    let response = mounter
        .mount(&parsed, &budget)
        .await
        .map_err(anyhow::Error::new)?
        .response;
    let files: Vec<writer::FileToWrite<'_>> = response
        .files
        .iter()
        .map(|f| writer::FileToWrite {
            path: &f.path,
            mode: u32::try_from(f.mode).unwrap_or(0o600),
            contents: &f.contents,
        })
        .collect();
    writer::write_with(&out, &files, rules, &writer::Stop::default())
        .map_err(|e| anyhow::anyhow!(catalogue::out_refused(e)))?;
    report.push_str(&format!(
        "fetched into {} (files 0600 or narrower, directories 0700):\n",
        out.display()
    ));
    for version in &response.object_version {
        report.push_str(&format!("  {} version {}\n", version.id, version.version));
    }
    Ok(report)
}

/// The manifest's text: at most [`MAX_MANIFEST_BYTES`] are read (one more tells a larger
/// file), so an oversized file or a device is refused without being read whole.
fn read_bounded(reader: impl Read, path: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_MANIFEST_BYTES).unwrap_or(u64::MAX);
    let reading = || catalogue::reading(path.display());
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(reading)?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        bail!(catalogue::manifest_too_big(
            path.display(),
            MAX_MANIFEST_BYTES
        ));
    }
    String::from_utf8(bytes).with_context(reading)
}

fn find_spc(documents: &[Value]) -> anyhow::Result<Manifest> {
    // The kinds seen, each once, for the message (a manifest can hold 262,144 documents).
    let mut seen = std::collections::BTreeSet::new();
    for value in documents {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("-");
        if kind == "SecretProviderClass" {
            return Manifest::deserialize(value).context(catalogue::manifest_shape());
        }
        seen.insert(kind);
    }
    let seen: Vec<&str> = seen.into_iter().take(8).collect();
    bail!(catalogue::no_spc(&limits::clip(&seen.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Endless input that counts what was taken from it.
    struct Endless<'a>(&'a mut u64);

    impl Read for Endless<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(b'#');
            *self.0 += buf.len() as u64;
            Ok(buf.len())
        }
    }

    #[test]
    fn an_oversized_manifest_is_refused_after_the_limit_plus_one() {
        let mut taken = 0;
        let err = read_bounded(Endless(&mut taken), Path::new("big.yaml")).expect_err("too big");
        assert_eq!(
            taken,
            MAX_MANIFEST_BYTES as u64 + 1,
            "read no further than one byte over"
        );
        let err = err.to_string();
        assert!(err.contains("big.yaml") && err.contains("4194304"), "{err}");
        assert!(err.contains("MAX_MANIFEST_BYTES"), "{err}");
        let exact = "a".repeat(MAX_MANIFEST_BYTES);
        assert_eq!(
            read_bounded(exact.as_bytes(), Path::new("x"))
                .expect("at the limit")
                .len(),
            MAX_MANIFEST_BYTES
        );
    }

    #[test]
    fn the_class_is_found_among_documents_read_once() {
        let docs = crate::objects::yaml::read_manifest(
            "kind: ServiceAccount\n---\napiVersion: secrets-store.csi.x-k8s.io/v1\n\
             kind: SecretProviderClass\nmetadata: {name: app}\n\
             spec: {provider: keywarden, parameters: {objects: '[]', region: 5}}\n",
        )
        .expect("yaml");
        let spc = find_spc(&docs).expect("found");
        assert_eq!(spc.metadata.name.as_deref(), Some("app"));
        assert_eq!(spc.spec.parameters["objects"], Value::from("[]"));
        assert!(
            !spc.spec.parameters["region"].is_string(),
            "an unquoted number"
        );
        let none = crate::objects::yaml::read_manifest(&"kind: ConfigMap\n---\n".repeat(500))
            .expect("yaml");
        let err = find_spc(&none).expect_err("none").to_string();
        assert!(err.len() < 400, "the kinds found are clipped: {err}");
    }
}
