//! AWS clients, built once from the SDK's standard configuration and handed to the Mount path.
//!
//! The base `SdkConfig` (credentials chain, endpoint overrides such as `AWS_ENDPOINT_URL`, retry
//! and timeout settings) is loaded once at start. Clients differ only by region, so one client
//! per region is built on first use and reused, as is one client set per pod session.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use keywarden_runtime::cache::{Bound, Cache, Evict};

use crate::catalogue;
use crate::error::MountError;
use aws_credential_types::Credentials;

/// The AWS clients of one provider process.
#[derive(Debug)]
pub struct AwsClients {
    base: SdkConfig,
    default_region: Option<String>,
    force_path_style: bool,
    regional: Cache<ClientKey, RegionalClients>,
    sts: Cache<String, aws_sdk_sts::Client>,
}

/// Client sets kept at most; the oldest are rebuilt on their next Mount. A pod session's set
/// also leaves when its credentials expire (hourly), so old ones do not pile up.
const MAX_CLIENT_SETS: usize = 1024;
/// STS clients (one per region) kept at most.
const MAX_STS_CLIENTS: usize = 64;

/// Region and access key of a client set (`None`: the provider's own credentials).
type ClientKey = (String, Option<String>);

/// The clients of one region.
#[derive(Debug, Clone)]
pub struct RegionalClients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// Secrets Manager and Parameter Store, built on first use: most client sets never call
    /// them, and each SDK client costs tens of KiB per pod session.
    managed: Arc<ManagedClients>,
    /// The region these clients call.
    pub region: String,
}

/// What builds the Secrets Manager and SSM clients of one set when first needed.
#[derive(Debug)]
struct ManagedClients {
    base: SdkConfig,
    region: Region,
    credentials: Option<Credentials>,
    secrets: OnceLock<aws_sdk_secretsmanager::Client>,
    ssm: OnceLock<aws_sdk_ssm::Client>,
}

impl RegionalClients {
    /// How long the set's credentials remain valid (`None`: the provider's own, no limit). A
    /// pod session's set (about 43 KiB) then leaves the cache with its session, instead of
    /// staying until 1,024 newer sets push it out.
    fn credentials_expire_in(&self) -> Option<Duration> {
        let expiry = self.managed.credentials.as_ref()?.expiry()?;
        Some(
            expiry
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }

    /// The Secrets Manager client of this set.
    pub fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        let m = &self.managed;
        m.secrets.get_or_init(|| {
            let mut config =
                aws_sdk_secretsmanager::config::Builder::from(&m.base).region(m.region.clone());
            if let Some(credentials) = &m.credentials {
                config = config.credentials_provider(credentials.clone());
            }
            aws_sdk_secretsmanager::Client::from_conf(config.build())
        })
    }

    /// The SSM (Parameter Store) client of this set.
    pub fn ssm(&self) -> &aws_sdk_ssm::Client {
        let m = &self.managed;
        m.ssm.get_or_init(|| {
            let mut config = aws_sdk_ssm::config::Builder::from(&m.base).region(m.region.clone());
            if let Some(credentials) = &m.credentials {
                config = config.credentials_provider(credentials.clone());
            }
            aws_sdk_ssm::Client::from_conf(config.build())
        })
    }
}

impl AwsClients {
    /// Uses an already loaded configuration (tests inject theirs here).
    pub fn new(base: SdkConfig, default_region: Option<String>, force_path_style: bool) -> Self {
        let default_region = default_region.or_else(|| base.region().map(|r| r.to_string()));
        Self {
            base,
            default_region,
            force_path_style,
            regional: Cache::new(Bound::Entries(MAX_CLIENT_SETS), Evict::OldestStored)
                .with_expiry(RegionalClients::credentials_expire_in),
            sts: Cache::new(Bound::Entries(MAX_STS_CLIENTS), Evict::OldestStored),
        }
    }

    /// Loads the SDK's standard configuration from the environment.
    pub async fn from_env(default_region: Option<String>, force_path_style: bool) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(base, default_region, force_path_style)
    }

    /// The region a Mount uses: the SPC's, else `--region`, else the SDK chain's.
    pub fn region<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, MountError> {
        requested
            .or(self.default_region.as_deref())
            .ok_or_else(catalogue::no_region)
    }

    /// The S3 and KMS clients for `region`, signing with `credentials`, or with the provider's
    /// own chain when `None`. Built once per (region, access key) and reused: a pod's session
    /// lasts an hour while its volumes re-Mount every minute.
    pub fn clients(&self, region: &str, credentials: Option<&Credentials>) -> RegionalClients {
        let key = (
            region.to_owned(),
            credentials.map(|c| c.access_key_id().to_owned()),
        );
        if let Some(clients) = self.regional.get(&key) {
            return clients;
        }
        let clients = self.build(region, credentials.cloned());
        self.regional.insert(key, clients.clone());
        clients
    }

    /// An STS client for `region` (web identity calls are unsigned).
    pub fn sts(&self, region: &str) -> aws_sdk_sts::Client {
        if let Some(client) = self.sts.get(&region.to_owned()) {
            return client;
        }
        let config = aws_sdk_sts::config::Builder::from(&self.base)
            .region(Region::new(region.to_owned()))
            .build();
        let client = aws_sdk_sts::Client::from_conf(config);
        self.sts.insert(region.to_owned(), client.clone());
        client
    }

    fn build(&self, region: &str, credentials: Option<Credentials>) -> RegionalClients {
        let name = region.to_owned();
        let region = Region::new(region.to_owned());
        let mut s3 = aws_sdk_s3::config::Builder::from(&self.base)
            .region(region.clone())
            .force_path_style(self.force_path_style);
        let mut kms = aws_sdk_kms::config::Builder::from(&self.base).region(region.clone());
        if let Some(credentials) = &credentials {
            s3 = s3.credentials_provider(credentials.clone());
            kms = kms.credentials_provider(credentials.clone());
        }
        RegionalClients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
            managed: Arc::new(ManagedClients {
                base: self.base.clone(),
                region,
                credentials,
                secrets: OnceLock::new(),
                ssm: OnceLock::new(),
            }),
            region: name,
        }
    }
}

/// Shared handle.
pub type SharedAws = Arc<AwsClients>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod session's clients leave the cache when its credentials expire, even behind the
    /// provider's own set, which never does.
    #[tokio::test(start_paused = true)]
    async fn a_session_set_leaves_with_its_credentials() {
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let aws = AwsClients::new(base, None, false);
        let session = |key: &str, seconds: u64| {
            let expiry = SystemTime::now() + Duration::from_secs(seconds);
            Credentials::new(key, "secret", Some("token".into()), Some(expiry), "test")
        };
        let _ = aws.clients("us-east-1", None);
        let _ = aws.clients("us-east-1", Some(&session("AKIA1", 60)));
        let _ = aws.clients("us-east-1", Some(&session("AKIA2", 60)));
        assert_eq!(aws.regional.len(), 3);
        tokio::time::advance(Duration::from_secs(61)).await;
        for key in ["AKIA3", "AKIA4", "AKIA5", "AKIA6"] {
            let _ = aws.clients("us-east-1", Some(&session(key, 3600)));
        }
        let kept = |key: Option<&str>| {
            aws.regional
                .get(&("us-east-1".to_owned(), key.map(str::to_owned)))
                .is_some()
        };
        assert!(
            !kept(Some("AKIA1")) && !kept(Some("AKIA2")),
            "expired sessions left"
        );
        assert!(kept(None) && kept(Some("AKIA6")));
        assert_eq!(aws.regional.len(), 5);
    }
}
