//! One Mount, from validated parameters to the complete set of files: all objects or none.
//!
//! Objects are fetched concurrently; the first failure cancels the rest. The response is sized
//! exactly before it is returned, so a Mount that would exceed `--max-response-bytes` fails
//! cleanly instead of being cut off by the driver's gRPC receive limit.

use keywarden_proto::csi::{File, MountResponse, ObjectVersion};
use prost::Message;

use crate::aws::SharedAws;
use crate::error::MountError;
use crate::identity::{Identity, IdentityPolicy};
use crate::metrics::Metrics;
use crate::objects::{ObjectPlan, ObjectType, Source};
use crate::params::MountParams;
use crate::s3::{self, ObjectRef};
use crate::secret_bytes;

/// Size limits of a Mount.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--max-object-bytes`.
    pub max_object_bytes: usize,
    /// `--max-response-bytes`.
    pub max_response_bytes: usize,
}

/// Performs Mounts. Cheap to share; holds no per-request state.
#[derive(Debug, Clone)]
pub struct Mounter {
    aws: SharedAws,
    policy: IdentityPolicy,
    limits: Limits,
    metrics: Metrics,
}

impl Mounter {
    /// A mounter using `aws` clients under `policy`.
    pub fn new(aws: SharedAws, policy: IdentityPolicy, limits: Limits, metrics: Metrics) -> Self {
        Self {
            aws,
            policy,
            limits,
            metrics,
        }
    }

    /// Fetches every object of `params` and returns the files and versions.
    pub async fn mount(&self, params: &MountParams) -> Result<MountResponse, MountError> {
        refuse_unsupported(&params.objects)?;
        let identity = self.policy.resolve(params)?;
        let region = self.aws.region(params.region.as_deref())?;
        let fetches = params
            .objects
            .iter()
            .map(|object| self.fetch(object, region, &identity));
        let fetched = futures::future::try_join_all(fetches).await?;

        let mut response = MountResponse::default();
        for (object, (bytes, version)) in params.objects.iter().zip(fetched) {
            response.object_version.push(ObjectVersion {
                id: object.id(),
                version,
            });
            response.files.push(File {
                path: object.alias.clone(),
                mode: i32::try_from(object.mode).unwrap_or(0o644),
                contents: bytes.into_unprotected(),
            });
        }
        let size = response.encoded_len();
        if size > self.limits.max_response_bytes {
            let mut contents: Vec<Vec<u8>> = response.files.drain(..).map(|f| f.contents).collect();
            secret_bytes::wipe(&mut contents);
            return Err(MountError::TooLarge(format!(
                "the mount's {} files total {size} bytes, over the limit of {} (--max-response-bytes)",
                params.objects.len(),
                self.limits.max_response_bytes
            )));
        }
        Ok(response)
    }

    async fn fetch(
        &self,
        object: &ObjectPlan,
        region: &str,
        identity: &Identity,
    ) -> Result<(secret_bytes::SecretBytes, String), MountError> {
        let Source::S3 {
            bucket,
            key,
            version,
        } = &object.source
        else {
            return Err(MountError::Unsupported(format!(
                "{}: inline objects are not supported",
                object.label
            )));
        };
        let client = self.aws.s3(region, identity);
        let object_ref = ObjectRef {
            label: &object.label,
            bucket,
            key,
            version: version.as_deref(),
        };
        let fetched = s3::get_object(
            &client,
            object_ref,
            self.limits.max_object_bytes,
            &self.metrics,
        )
        .await?;
        Ok((fetched.bytes, fetched.version))
    }
}

/// Features of the parameter format this provider version does not serve yet are refused
/// before any AWS call, naming the object.
fn refuse_unsupported(objects: &[ObjectPlan]) -> Result<(), MountError> {
    for object in objects {
        if object.object_type != ObjectType::S3 {
            return Err(MountError::Unsupported(format!(
                "{}: objectType {:?} is not supported by this provider version (only s3)",
                object.label, object.object_type
            )));
        }
        if !object.jmes_paths.is_empty() {
            return Err(MountError::Unsupported(format!(
                "{}: jmesPath is not supported by this provider version",
                object.label
            )));
        }
    }
    Ok(())
}
