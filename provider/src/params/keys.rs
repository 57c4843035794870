//! Which top-level `attributes` keys a Mount accepts: a misspelt parameter (`roleARN`, `Region`)
//! must not let the Mount run with another role or region than its author meant, so every key
//! that is neither Keywarden's, nor the driver's and kubelet's, nor a known AWS-provider
//! parameter is an error naming it, with a "did you mean" for near misses.

use crate::catalogue;
use crate::error::MountError;
use crate::limits;

/// SecretProviderClass parameters Keywarden reads.
pub(super) const KEYWARDEN: &[&str] = &["objects", "region", "identity", "roleArn"];

/// Keys the CSI driver adds from the volume context (kubelet's pod information is under
/// [`DRIVER_PREFIX`]).
pub(super) const DRIVER: &[&str] = &["secretProviderClass"];

/// The prefix of the pod information and tokens kubelet adds.
pub(super) const DRIVER_PREFIX: &str = "csi.storage.k8s.io/";

/// Class parameters of the AWS provider: `usePodIdentity`, `pathTranslation` and
/// `failoverRegion` are honoured; `preferredAddressType` (how the AWS provider reaches the Pod
/// Identity agent) is accepted and has no effect, as Keywarden's agent address is a flag
/// (docs/decisions.md).
pub(super) const AWS_HONOURED: &[&str] = &[
    "usePodIdentity",
    "pathTranslation",
    "preferredAddressType",
    "failoverRegion",
];
/// Checks every key of `attributes`: an unknown key is refused by name, with a suggestion for a
/// near miss.
pub(super) fn check<'a>(keys: impl Iterator<Item = &'a String>) -> Result<(), MountError> {
    let known = || KEYWARDEN.iter().chain(DRIVER).chain(AWS_HONOURED);
    let mut refused: Vec<&str> = keys
        .map(String::as_str)
        .filter(|k| !k.starts_with(DRIVER_PREFIX) && !known().any(|n| n == k))
        .collect();
    refused.sort_unstable();
    let Some(key) = refused.first() else {
        return Ok(());
    };
    let hint = known()
        .find(|n| near(n, key))
        .map(catalogue::did_you_mean)
        .unwrap_or_default();
    Err(catalogue::unknown_parameter(&limits::quote(key), hint))
}

/// A near miss: the same ignoring case, or at most two edits apart (on short keys, one).
fn near(name: &str, key: &str) -> bool {
    let (a, b) = (name.to_ascii_lowercase(), key.to_ascii_lowercase());
    if a == b {
        return true;
    }
    if key.len() > 64 {
        return false;
    }
    let allowed = if a.len() <= 6 { 1 } else { 2 };
    edit_distance(a.as_bytes(), b.as_bytes()) <= allowed
}

/// Levenshtein distance (both inputs are short: the key was bounded above).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn accepts_keywarden_driver_and_kubelet_keys() {
        let ok = keys(&[
            "objects",
            "region",
            "identity",
            "roleArn",
            "usePodIdentity",
            "pathTranslation",
            "preferredAddressType",
            "secretProviderClass",
            "csi.storage.k8s.io/pod.name",
            "csi.storage.k8s.io/serviceAccount.tokens",
        ]);
        check(ok.iter()).expect("known keys");
    }

    #[test]
    fn misspelt_keys_are_named_with_a_suggestion() {
        for (key, suggestion) in [
            ("roleARN", Some("roleArn")),
            ("Region", Some("region")),
            ("objets", Some("objects")),
            ("identiy", Some("identity")),
            ("colour", None),
        ] {
            let err = check(keys(&["objects", key]).iter())
                .expect_err(key)
                .to_string();
            assert!(err.contains(&format!("parameter {key:?}")), "{err}");
            match suggestion {
                Some(s) => assert!(err.contains(&format!("did you mean {s:?}")), "{err}"),
                None => assert!(!err.contains("did you mean"), "{err}"),
            }
        }
    }

    #[test]
    fn aws_provider_parameters_are_accepted() {
        check(keys(&["objects", "failoverRegion", "usePodIdentity"]).iter()).expect("honoured");
    }

    #[test]
    fn distance_is_levenshtein() {
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(b"same", b"same"), 0);
    }
}
