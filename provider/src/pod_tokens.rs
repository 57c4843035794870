//! The service account tokens kubelet hands over in `csi.storage.k8s.io/serviceAccount.tokens`
//! (one per audience listed in the CSIDriver's `tokenRequests`; from the sync controller, one for
//! its `tokenRequestAudience`), picked by audience and checked for expiry. Tokens stay behind
//! [`SecretString`].

use std::collections::HashMap;
use std::time::SystemTime;

use secrecy::SecretString;
use serde::Deserialize;

use crate::catalogue;
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
    let missing = || match caller {
        Caller::Driver => catalogue::no_token(audience),
        Caller::SyncController => catalogue::no_token_sync(audience),
    };
    let tokens = tokens.ok_or_else(missing)?;
    let mut parsed: HashMap<String, RawToken> =
        serde_json::from_str(tokens.expose_secret()).map_err(|_| catalogue::tokens_not_json())?;
    let raw = parsed.remove(audience).ok_or_else(missing)?;
    let expires = match raw.expiration.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(
            humantime::parse_rfc3339_weak(text)
                .map_err(|_| catalogue::token_expiry_unreadable(audience))?,
        ),
    };
    if let Some(expires) = expires
        && expires <= SystemTime::now()
    {
        return Err(catalogue::token_expired(
            audience,
            humantime::format_rfc3339_seconds(expires),
        ));
    }
    Ok(PodToken {
        token: SecretString::from(raw.token),
        expires,
    })
}

/// Largest JWT payload whose claims are read (a projected token's is well under 2 KiB).
const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

impl PodToken {
    /// The token's `sub` claim, read without verifying the signature (AWS verifies it when the
    /// token is exchanged); `None` when the token is not a JWT with a string `sub`.
    pub fn subject(&self) -> Option<String> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use secrecy::ExposeSecret;
        use zeroize::Zeroize;

        #[derive(Deserialize)]
        struct Claims {
            sub: Option<String>,
        }
        let payload = self.token.expose_secret().split('.').nth(1)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return None;
        }
        let mut json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims = serde_json::from_slice::<Claims>(&json).ok();
        json.zeroize();
        claims?.sub
    }

    /// Refuses a token whose subject is not `system:serviceaccount:<namespace>:<name>`: the
    /// sync controller names the ServiceAccount itself, and the namespace it names is the one
    /// Keywarden's own checks use, so it must be the one AWS will verify in the token.
    pub fn check_subject(&self, namespace: &str, service_account: &str) -> Result<(), MountError> {
        let expected = format!("system:serviceaccount:{namespace}:{service_account}");
        match self.subject() {
            Some(sub) if sub == expected => Ok(()),
            Some(sub) => Err(catalogue::token_subject_mismatch(
                &crate::limits::quote(&sub),
                namespace,
                service_account,
            )),
            None => Err(catalogue::token_not_jwt(namespace, service_account)),
        }
    }
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

    fn jwt(claims: &str) -> PodToken {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        PodToken {
            token: SecretString::from(format!("{}.{}.sig", b64(b"{}"), b64(claims.as_bytes()))),
            expires: None,
        }
    }

    #[test]
    fn the_subject_must_be_the_named_service_account() {
        let t = jwt(r#"{"sub":"system:serviceaccount:team-a:app","aud":["sts.amazonaws.com"]}"#);
        assert_eq!(
            t.subject().as_deref(),
            Some("system:serviceaccount:team-a:app")
        );
        t.check_subject("team-a", "app").expect("same");
        for (ns, sa) in [("team-b", "app"), ("team-a", "other"), ("team", "a:app")] {
            let err = t.check_subject(ns, sa).expect_err("another account");
            assert_eq!(err.grpc_code(), Code::PermissionDenied);
            assert!(
                err.to_string()
                    .contains("the token is for \"system:serviceaccount:team-a:app\""),
                "{err}"
            );
        }
        for bad in [
            PodToken {
                token: SecretString::from("opaque".to_owned()),
                expires: None,
            },
            jwt("not json"),
            jwt(r#"{"sub":7}"#),
            jwt(r#"{"aud":"x"}"#),
        ] {
            assert_eq!(bad.subject(), None);
            let err = bad.check_subject("team-a", "app").expect_err("no subject");
            assert!(
                err.to_string().contains("not a JWT with a subject"),
                "{err}"
            );
        }
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
