//! `keywarden-provider check`: validate a SecretProviderClass manifest offline with the same
//! rules a Mount applies (and the SecretSyncs beside it that read it, `secret_sync.rs`), and with
//! `--out DIR` perform a real fetch into a directory using the local AWS credentials and the
//! provider's own writer.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use keywarden_proto::csi::MountRequest;
use serde::Deserialize as _;

use std::time::Duration;

use crate::aws::AwsClients;
use crate::cache::PlaintextCache;
use crate::catalogue;
use crate::credentials::CredentialCache;
use crate::http_client::HttpClient;
use crate::identity::{IdentityPolicy, IdentityResolver};
use crate::limits;
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
    /// Fetch for real into this directory, with the local AWS credentials. It must be missing,
    /// empty, or written by an earlier `check --out`: the writer never removes what it did not
    /// create.
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
    parameters: BTreeMap<String, serde_yaml::Value>,
}

/// Runs `check`; returns the report for the user.
pub async fn run(args: &CheckArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&args.spc)
        .with_context(|| catalogue::reading(args.spc.display()))?;
    let manifest = find_spc(&text)?;
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
        let serde_yaml::Value::String(s) = value else {
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
        &documents(&text)?,
        &name,
        &namespace,
        &files,
    )?);
    let Some(out) = &args.out else {
        return Ok(report);
    };

    std::fs::create_dir_all(out).with_context(|| catalogue::creating(out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| catalogue::resolving(out.display()))?;
    // Refused before any AWS call: a directory holding files the writer did not create.
    writer::check_target(&out, true).map_err(|e| anyhow::anyhow!(catalogue::out_refused(e)))?;
    parsed.target_path = out.display().to_string();
    // The local credentials stand in for whatever identity the pods would use.
    parsed.identity = IdentityKind::Node;
    let aws = Arc::new(AwsClients::from_env(args.region.clone(), args.s3_force_path_style).await);
    let policy = IdentityPolicy {
        allow_node: true,
        node_namespaces: Default::default(),
    };
    let limits = Limits {
        max_object_bytes: 1_048_576,
        max_response_bytes: 4_194_304,
        max_prefix_objects: crate::limits::DEFAULT_MAX_PREFIX_OBJECTS,
    };
    let metrics = Metrics::register(&mut prometheus_client::registry::Registry::default());
    let cache = Arc::new(PlaintextCache::new(
        Duration::ZERO,
        limits.max_response_bytes,
        metrics.clone(),
    ));
    let output = Output::Provider {
        allow_non_tmpfs: true,
    };
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
    report.push_str(&format!("fetched into {}:\n", out.display()));
    for version in &response.object_version {
        report.push_str(&format!("  {} version {}\n", version.id, version.version));
    }
    Ok(report)
}

fn documents(text: &str) -> anyhow::Result<Vec<serde_yaml::Value>> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).context("the manifest is not valid YAML"))
        .collect()
}

fn find_spc(text: &str) -> anyhow::Result<Manifest> {
    let mut seen = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value =
            serde_yaml::Value::deserialize(document).context(catalogue::manifest_not_yaml())?;
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_owned();
        if kind == "SecretProviderClass" {
            return serde_yaml::from_value(value).context(catalogue::manifest_shape());
        }
        seen.push(kind);
    }
    bail!(catalogue::no_spc(&seen))
}
