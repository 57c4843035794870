//! `keywarden-provider seal`: encrypt a secret into a sealed object (docs/reference.md §2.4) with a fresh
//! KMS data key, and write it to a file or to S3. The plaintext data key exists only in
//! zeroizing memory and is never written anywhere.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use aws_config::BehaviorVersion;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::catalogue;
use crate::kms;
use crate::objects::parse_s3_url;
use crate::sealed::{self, NAMESPACE_CONTEXT_KEY};
use crate::secret_bytes::SecretBytes;

/// `seal` options.
#[derive(Debug, clap::Args)]
pub struct SealArgs {
    /// KMS key id, key ARN, alias name or alias ARN to generate the data key under.
    #[arg(long)]
    pub key: String,
    /// Encryption context entry `k=v` (repeatable); also needed, unchanged, to open.
    #[arg(long = "context", value_parser = parse_pair)]
    pub context: Vec<(String, String)>,
    /// Bind the sealed object to this namespace: only pods there can open it.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Plaintext file, or `-` for stdin.
    #[arg(long = "in", default_value = "-")]
    pub input: String,
    /// Output file, or `s3://bucket/key` to upload.
    #[arg(long)]
    pub out: String,
    /// With an `s3://` output: store it with SSE-KMS under this key.
    #[arg(long)]
    pub sse_kms_key: Option<String>,
    /// AWS region (else the SDK's region chain).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Path-style S3 addressing (local endpoints).
    #[arg(long, env = "KEYWARDEN_S3_FORCE_PATH_STYLE", action = clap::ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_force_path_style: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(catalogue::not_a_pair(s)),
    }
}

/// Runs `seal`; returns a one-line summary for the user.
pub async fn run(args: &SealArgs) -> anyhow::Result<String> {
    let mut context: BTreeMap<String, String> = args.context.iter().cloned().collect();
    if let Some(ns) = &args.namespace {
        if let Some(other) = context.get(NAMESPACE_CONTEXT_KEY).filter(|v| *v != ns) {
            bail!(catalogue::namespace_conflict(
                ns,
                NAMESPACE_CONTEXT_KEY,
                other
            ));
        }
        context.insert(NAMESPACE_CONTEXT_KEY.to_owned(), ns.clone());
    }
    let plaintext = read_plaintext(&args.input)?;

    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let kms_client = aws_sdk_kms::Client::new(&sdk);
    let data_key = kms::generate_data_key(&kms_client, &args.key, &context)
        .await
        .map_err(|e| anyhow::anyhow!(catalogue::generate_data_key_failed(&args.key, e)))?;
    let sealed = sealed::seal(
        plaintext.as_slice(),
        data_key.plaintext.as_slice(),
        &data_key.ciphertext,
        &data_key.key_arn,
        context,
    )?;
    drop(data_key);

    if args.out.starts_with("s3://") {
        let (bucket, key) = parse_s3_url(&args.out).map_err(anyhow::Error::msg)?;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(args.s3_force_path_style)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(config);
        let mut put = s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(sealed.clone()));
        if let Some(sse_key) = &args.sse_kms_key {
            put = put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(sse_key);
        }
        let output = put.send().await.map_err(|e| {
            anyhow::anyhow!(catalogue::upload_failed(
                &args.out,
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))
        })?;
        let version = output.version_id().unwrap_or("none");
        Ok(format!(
            "sealed {} bytes under {} into {} (VersionId {version})",
            plaintext.len(),
            data_key_arn(&sealed),
            args.out
        ))
    } else {
        let path = PathBuf::from(&args.out);
        std::fs::write(&path, &sealed).with_context(|| catalogue::writing(path.display()))?;
        Ok(format!(
            "sealed {} bytes under {} into {}",
            plaintext.len(),
            data_key_arn(&sealed),
            path.display()
        ))
    }
}

fn data_key_arn(sealed_bytes: &[u8]) -> String {
    sealed::Sealed::parse(sealed_bytes)
        .map(|s| s.header.key)
        .unwrap_or_default()
}

fn read_plaintext(input: &str) -> anyhow::Result<SecretBytes> {
    let mut buf = Vec::new();
    if input == "-" {
        std::io::stdin()
            .read_to_end(&mut buf)
            .with_context(|| catalogue::reading("the plaintext from stdin"))?;
    } else {
        std::fs::File::open(input)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .with_context(|| catalogue::reading(format_args!("the plaintext from {input}")))?;
    }
    // Moved, not copied: the buffer is wiped when the SecretBytes drops.
    Ok(SecretBytes::from(buf))
}
