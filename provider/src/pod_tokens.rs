//! The service account tokens kubelet hands over in `csi.storage.k8s.io/serviceAccount.tokens`
//! (one per audience listed in the CSIDriver's `tokenRequests`; from the sync controller, one for
//! its `tokenRequestAudience`), picked by audience and checked for expiry. Tokens stay behind
//! [`SecretString`].

use std::collections::HashMap;
use std::time::SystemTime;

use secrecy::SecretString;
use serde::Deserialize;

use crate::error::MountError;
use crate::params::Caller;

#[derive(Deserialize)]
struct RawToken {
    token: String,
    #[serde(rename = "expirationTimestamp")]
    expiration: Option<String>,
}

/// A pod token for one audience.
#[derive(Debug)]
pub struct PodToken {
    /// The JWT.
    pub token: SecretString,
    /// When it expires, if kubelet said.
    pub expires: Option<SystemTime>,
}

/// Picks the token for `audience` from the tokens JSON; a missing one is an error that says
/// where `caller` is told which audiences to send.
pub fn for_audience(
    tokens: Option<&SecretString>,
    audience: &str,
    caller: Caller,
) -> Result<PodToken, MountError> {
    use secrecy::ExposeSecret;
    let missing = || {
        MountError::Precondition(match caller {
            Caller::Driver => format!(
                "no service account token for audience {audience:?} in the request: add \
                 {{audience: {audience}}} to tokenRequests of the CSIDriver secrets-store.csi.k8s.io"
            ),
            Caller::SyncController => format!(
                "no service account token for audience {audience:?} in the request: set \
                 tokenRequestAudience of the Secrets Store sync controller to \
                 [{{audience: {audience}}}] (its flag --token-request-audience)"
            ),
        })
    };
    let tokens = tokens.ok_or_else(missing)?;
    let mut parsed: HashMap<String, RawToken> = serde_json::from_str(tokens.expose_secret())
        .map_err(|_| {
            MountError::InvalidArgument(
                "csi.storage.k8s.io/serviceAccount.tokens is not the JSON kubelet sends".into(),
            )
        })?;
    let raw = parsed.remove(audience).ok_or_else(missing)?;
    let expires = match raw.expiration.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(humantime::parse_rfc3339_weak(text).map_err(|_| {
            MountError::InvalidArgument(format!(
                "the token for audience {audience:?} has an unreadable expirationTimestamp"
            ))
        })?),
    };
    if let Some(expires) = expires
        && expires <= SystemTime::now()
    {
        return Err(MountError::Precondition(format!(
            "the service account token for audience {audience:?} expired at {}",
            humantime::format_rfc3339_seconds(expires)
        )));
    }
    Ok(PodToken {
        token: SecretString::from(raw.token),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use tonic::Code;

    fn tokens(json: &str) -> SecretString {
        SecretString::from(json.to_owned())
    }

    #[test]
    fn picks_the_audience() {
        let t = tokens(
            r#"{"sts.amazonaws.com":{"token":"jwt-a","expirationTimestamp":"2099-01-01T00:00:00Z"},"pods.eks.amazonaws.com":{"token":"jwt-b"}}"#,
        );
        assert_eq!(
            for_audience(Some(&t), "sts.amazonaws.com", Caller::Driver)
                .expect("a")
                .token
                .expose_secret(),
            "jwt-a"
        );
        assert_eq!(
            for_audience(Some(&t), "pods.eks.amazonaws.com", Caller::Driver)
                .expect("b")
                .token
                .expose_secret(),
            "jwt-b"
        );
    }

    #[test]
    fn missing_and_expired_tokens_say_what_to_do() {
        let err = for_audience(None, "sts.amazonaws.com", Caller::Driver).expect_err("missing");
        assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        assert!(err.to_string().contains("tokenRequests"), "{err}");
        let t = tokens(r#"{"other":{"token":"x"}}"#);
        assert!(
            for_audience(Some(&t), "sts.amazonaws.com", Caller::Driver)
                .expect_err("absent")
                .to_string()
                .contains("tokenRequests")
        );
        let t = tokens(
            r#"{"sts.amazonaws.com":{"token":"x","expirationTimestamp":"2001-01-01T00:00:00Z"}}"#,
        );
        let err = for_audience(Some(&t), "sts.amazonaws.com", Caller::Driver).expect_err("expired");
        assert!(
            err.to_string().contains("expired at 2001-01-01T00:00:00Z"),
            "{err}"
        );
        let err = for_audience(None, "sts.amazonaws.com", Caller::SyncController)
            .expect_err("missing from the controller");
        assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        assert!(
            err.to_string()
                .contains("set tokenRequestAudience of the Secrets Store sync controller to [{audience: sts.amazonaws.com}]"),
            "{err}"
        );
        let t = tokens("not json");
        assert_eq!(
            for_audience(Some(&t), "a", Caller::Driver)
                .expect_err("json")
                .grpc_code(),
            Code::InvalidArgument
        );
    }
}
