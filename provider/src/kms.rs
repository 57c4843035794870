//! The KMS calls the provider makes: `Decrypt` of ciphertext blobs and sealed data keys, and
//! `GenerateDataKey` for `seal`. Plaintext from KMS goes straight into [`SecretBytes`].

use std::collections::{BTreeMap, HashMap};

use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use crate::aws_error;
use crate::catalogue;
use crate::error::MountError;
use crate::metrics::Metrics;
use crate::secret_bytes::SecretBytes;

/// One `kms:Decrypt` call.
#[derive(Debug, Clone, Copy)]
pub struct DecryptCall<'a> {
    /// The object's label, for messages.
    pub label: &'a str,
    /// The ciphertext blob.
    pub blob: &'a [u8],
    /// Key to decrypt with; KMS finds it in the blob when absent.
    pub key_id: Option<&'a str>,
    /// Encryption context.
    pub context: &'a BTreeMap<String, String>,
}

/// Decrypts a KMS ciphertext blob.
pub async fn decrypt(
    client: &aws_sdk_kms::Client,
    call: DecryptCall<'_>,
    metrics: &Metrics,
) -> Result<SecretBytes, MountError> {
    let context: HashMap<String, String> = call
        .context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let call_metric = metrics.aws_request("kms", "Decrypt");
    let result = client
        .decrypt()
        .ciphertext_blob(Blob::new(call.blob))
        .set_key_id(call.key_id.map(str::to_owned))
        .set_encryption_context((!context.is_empty()).then_some(context))
        .send()
        .await;
    match result {
        Ok(output) => {
            call_metric.finish("ok");
            let plaintext = output.plaintext.map(Blob::into_inner).unwrap_or_default();
            Ok(SecretBytes::from(plaintext))
        }
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let mapped = match err.as_service_error() {
                Some(DecryptError::InvalidCiphertextException(_)) => {
                    if call.context.is_empty() {
                        catalogue::kms_refused_no_context(call.label)
                    } else {
                        catalogue::kms_refused_context(call.label)
                    }
                }
                Some(DecryptError::IncorrectKeyException(_)) => catalogue::wrong_key(call.label),
                Some(DecryptError::DisabledException(_)) => catalogue::key_disabled(call.label),
                Some(DecryptError::KmsInvalidStateException(_)) => {
                    catalogue::key_unusable(call.label)
                }
                _ => aws_error::classify(call.label, &err, status),
            };
            Err(aws_error::failed(
                call_metric,
                call.label,
                &err,
                status,
                mapped,
            ))
        }
    }
}

/// A fresh AES-256 data key from `kms:GenerateDataKey`.
#[derive(Debug)]
pub struct DataKey {
    /// The plaintext key; wiped on drop.
    pub plaintext: SecretBytes,
    /// The key encrypted under the KMS key.
    pub ciphertext: Vec<u8>,
    /// The ARN of the KMS key that made it.
    pub key_arn: String,
}

/// Generates an AES-256 data key under `key` with `context`.
pub async fn generate_data_key(
    client: &aws_sdk_kms::Client,
    key: &str,
    context: &BTreeMap<String, String>,
) -> Result<DataKey, MountError> {
    let label = format!("key {key}");
    let context: HashMap<String, String> = context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let output = client
        .generate_data_key()
        .key_id(key)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context((!context.is_empty()).then_some(context))
        .send()
        .await
        .map_err(|err| {
            let status = err.raw_response().map(|r| r.status().as_u16());
            tracing::debug!(
                error = aws_error::describe(&err, status),
                "GenerateDataKey failed"
            );
            aws_error::classify(&label, &err, status)
        })?;
    let plaintext = SecretBytes::from(output.plaintext.map(Blob::into_inner).unwrap_or_default());
    let ciphertext = output
        .ciphertext_blob
        .map(Blob::into_inner)
        .unwrap_or_default();
    let key_arn = output.key_id.unwrap_or_else(|| key.to_owned());
    Ok(DataKey {
        plaintext,
        ciphertext,
        key_arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::Client;
    use aws_sdk_kms::operation::decrypt::DecryptOutput;
    use aws_sdk_kms::types::error::{DisabledException, InvalidCiphertextException};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use prometheus_client::registry::Registry;
    use tonic::Code;

    fn call<'a>(context: &'a BTreeMap<String, String>, key_id: Option<&'a str>) -> DecryptCall<'a> {
        DecryptCall {
            label: "objects[0] (s3://b/k)",
            blob: b"blob",
            key_id,
            context,
        }
    }

    #[tokio::test]
    async fn passes_key_and_context_and_returns_plaintext() {
        let rule = mock!(Client::decrypt)
            .match_requests(|r| {
                r.key_id() == Some("arn:aws:kms:us-east-1:1:key/k")
                    && r.encryption_context()
                        .and_then(|c| c.get("app"))
                        .map(String::as_str)
                        == Some("web")
            })
            .then_output(|| {
                DecryptOutput::builder()
                    .plaintext(Blob::new(b"hunter2".to_vec()))
                    .build()
            });
        let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&rule]);
        let context = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let metrics = Metrics::register(&mut Registry::default());
        let plain = decrypt(
            &client,
            call(&context, Some("arn:aws:kms:us-east-1:1:key/k")),
            &metrics,
        )
        .await
        .expect("decrypted");
        assert_eq!(plain.as_slice(), b"hunter2");
    }

    #[tokio::test]
    async fn distinct_messages_for_each_refusal() {
        let metrics = Metrics::register(&mut Registry::default());
        let invalid = mock!(Client::decrypt).then_error(|| {
            DecryptError::InvalidCiphertextException(InvalidCiphertextException::builder().build())
        });
        let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&invalid]);
        let none = BTreeMap::new();
        let err = decrypt(&client, call(&none, None), &metrics)
            .await
            .expect_err("invalid");
        assert_eq!(err.grpc_code(), Code::InvalidArgument);
        assert!(err.to_string().contains("set encryptionContext"), "{err}");
        let some = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        let err = decrypt(&client, call(&some, None), &metrics)
            .await
            .expect_err("mismatch");
        assert!(
            err.to_string().contains("encryptionContext does not match"),
            "{err}"
        );

        let disabled = mock!(Client::decrypt)
            .then_error(|| DecryptError::DisabledException(DisabledException::builder().build()));
        let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&disabled]);
        let err = decrypt(&client, call(&none, None), &metrics)
            .await
            .expect_err("disabled");
        assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        assert!(err.to_string().contains("disabled"), "{err}");
    }
}
