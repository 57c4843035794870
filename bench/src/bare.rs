//! The baseline of the Mount figure: a program making exactly the AWS calls of a cold Mount
//! with the AWS SDK for Rust, and nothing else. No gRPC, no parsing of attributes, no cache.
//!
//! It fetches the objects the way the provider does (`provider/src/mount.rs`): all objects at
//! once, each one a `GetObject` whose body is read whole, then a `kms:Decrypt` of that body for
//! `kms` objects. Its clients are built once, from the same standard SDK configuration the
//! provider loads, before any timing.

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::workload::Object;

/// S3 and KMS clients, built once.
#[derive(Debug, Clone)]
pub struct Bare {
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
}

impl Bare {
    /// Clients from the standard SDK configuration (`AWS_ENDPOINT_URL`, region, credentials),
    /// with path-style S3 addressing as the provider's `--s3-force-path-style`.
    pub async fn from_env() -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&base)
            .force_path_style(true)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            kms: aws_sdk_kms::Client::new(&base),
        }
    }

    /// Fetches (and decrypts) every object concurrently; returns the plaintexts, in order.
    pub async fn fetch_all(&self, objects: &[Object]) -> anyhow::Result<Vec<Vec<u8>>> {
        futures::future::try_join_all(objects.iter().map(|o| self.fetch(o))).await
    }

    async fn fetch(&self, object: &Object) -> anyhow::Result<Vec<u8>> {
        let output = self
            .s3
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .with_context(|| format!("GetObject s3://{}/{}", object.bucket, object.key))?;
        let body = output.body.collect().await?.into_bytes();
        if !object.kms {
            return Ok(body.to_vec());
        }
        let blob = if object.base64 {
            BASE64.decode(&body)?
        } else {
            body.to_vec()
        };
        let context = object.context.clone();
        let output = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context((!context.is_empty()).then_some(context))
            .send()
            .await
            .with_context(|| format!("Decrypt of s3://{}/{}", object.bucket, object.key))?;
        Ok(output.plaintext.map(|p| p.into_inner()).unwrap_or_default())
    }
}
