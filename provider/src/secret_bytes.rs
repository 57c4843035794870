//! A byte buffer for secret material that never leaves a copy behind in freed memory.
//!
//! `Zeroizing<Vec<u8>>` wipes its buffer on drop, but a `Vec` that grows reallocates and frees
//! the old buffer unwiped. [`SecretBytes`] grows by moving into a new zeroizing buffer and
//! wiping the old one, so every byte of secret that ever sat in it is erased.

use zeroize::{Zeroize, Zeroizing};

/// Owned secret bytes, wiped on drop and on every reallocation. `Debug` shows only the length.
#[derive(Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// Appends `data`, reallocating (and wiping the old buffer) when needed.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let needed = self.0.len() + data.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(self.0.capacity() * 2)));
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped when `self.0` is replaced and dropped.
            self.0 = bigger;
        }
        self.0.extend_from_slice(data);
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, for in-place decryption.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Shortens to `len` bytes, wiping the bytes cut off.
    pub fn truncate(&mut self, len: usize) {
        if len < self.0.len() {
            self.0[len..].zeroize();
            self.0.truncate(len);
        }
    }

    /// Number of bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hands the bytes to a message that cannot zeroize itself (a protobuf `bytes` field).
    /// The caller takes over responsibility for the copy.
    pub fn into_unprotected(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0)
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Secret bytes shared by reference, for a protobuf `bytes` field: [`SharedSecret::bytes`]
/// hands out a [`bytes::Bytes`] view without copying, and the buffer is wiped when the last view
/// and the last owner are gone.
#[derive(Debug, Clone)]
pub struct SharedSecret(pub std::sync::Arc<SecretBytes>);

impl AsRef<[u8]> for SharedSecret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl SharedSecret {
    /// A `Bytes` view of the secret that keeps it alive (and unwiped) while it exists.
    pub fn bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from_owner(self.clone())
    }

    /// A `Bytes` view that also keeps `hold` alive: a charge to the memory budget stays taken
    /// for as long as the message that carries the view (and is being encoded) exists.
    pub fn bytes_holding<H: Send + Sync + 'static>(&self, hold: std::sync::Arc<H>) -> bytes::Bytes {
        bytes::Bytes::from_owner(Holding {
            secret: self.clone(),
            _hold: hold,
        })
    }
}

struct Holding<H> {
    secret: SharedSecret,
    _hold: std::sync::Arc<H>,
}

impl<H> AsRef<[u8]> for Holding<H> {
    fn as_ref(&self) -> &[u8] {
        self.secret.as_ref()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_keep_the_secret_and_their_hold_alive() {
        let secret = SharedSecret(std::sync::Arc::new(SecretBytes::from(b"hunter2".to_vec())));
        let hold = std::sync::Arc::new(());
        let view = secret.bytes_holding(hold.clone());
        let plain = secret.bytes();
        drop(secret);
        assert_eq!(&view[..], b"hunter2");
        assert_eq!(&plain[..], b"hunter2");
        assert_eq!(std::sync::Arc::strong_count(&hold), 2, "the view holds it");
        drop(view);
        assert_eq!(
            std::sync::Arc::strong_count(&hold),
            1,
            "released with the view"
        );
    }

    #[test]
    fn grows_and_keeps_content() {
        let mut buf = SecretBytes::with_capacity(2);
        for chunk in [&b"ab"[..], b"cde", b"", b"fghijklmnop"] {
            buf.extend_from_slice(chunk);
        }
        assert_eq!(buf.as_slice(), b"abcdefghijklmnop");
        assert_eq!(buf.len(), 16);
        assert_eq!(format!("{buf:?}"), "SecretBytes(16 bytes)");
        assert_eq!(buf.into_unprotected(), b"abcdefghijklmnop");
    }
}
