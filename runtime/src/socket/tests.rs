//! Tests of the socket's life: private mode, staging, stale and live predecessors, guards.

use super::*;

#[tokio::test]
async fn binds_private_socket_and_removes_it_on_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/k.sock");
    let (listener, guard) = bind(&path, 0o600).expect("bind");
    let meta = std::fs::metadata(&path).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    drop(listener);
    drop(guard);
    assert!(!path.exists(), "socket removed on drop");
}

#[tokio::test]
async fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale bind"));
    assert!(path.exists(), "stale socket file left behind");
    let (_listener, _guard) = bind(&path, 0o600).expect("stale socket replaced");
}

#[tokio::test]
async fn live_socket_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    let (_listener, _guard) = bind(&path, 0o600).expect("first bind");
    let err = bind(&path, 0o600).expect_err("second instance refused");
    assert!(matches!(err, SocketError::InUse { .. }), "{err}");
    assert!(path.exists(), "first instance's socket untouched");
}

#[tokio::test]
async fn a_successor_takes_a_live_socket_over_and_the_predecessor_leaves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    let (old, old_guard) = bind(&path, 0o600).expect("first bind");
    let (new, new_guard) = bind_replacing(&path, 0o600).expect("taken over");
    let _client = std::os::unix::net::UnixStream::connect(&path).expect("connects");
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(5), new.accept())
            .await
            .is_ok(),
        "new connections reach the successor"
    );
    drop(old);
    drop(old_guard);
    assert!(
        path.exists(),
        "the predecessor leaves the successor's socket"
    );
    drop(new_guard);
    assert!(!path.exists());
}

#[tokio::test]
async fn a_second_instance_waits_for_the_first_to_leave() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    let (first, first_guard) = bind(&path, 0o600).expect("first bind");
    let identity = std::fs::symlink_metadata(&path).expect("stat").ino();
    let waiting = tokio::spawn({
        let path = path.clone();
        async move { bind_when_free(&path, 0o600, std::time::Duration::from_secs(30)).await }
    });
    tokio::time::sleep(WAIT_POLL * 2).await;
    assert!(
        !waiting.is_finished(),
        "the second instance waits while the first serves"
    );
    assert_eq!(
        std::fs::symlink_metadata(&path).expect("stat").ino(),
        identity,
        "the first instance's socket is left in place while it serves"
    );
    drop(first);
    drop(first_guard);
    let (second, _guard) = waiting.await.expect("task").expect("bound once free");
    let _client = std::os::unix::net::UnixStream::connect(&path).expect("connects");
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(5), second.accept())
            .await
            .is_ok(),
        "the second instance serves"
    );
}

#[tokio::test]
async fn the_wait_is_bounded_and_leaves_the_live_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    let (_first, _guard) = bind(&path, 0o600).expect("first bind");
    let err = bind_when_free(&path, 0o600, std::time::Duration::from_millis(300))
        .await
        .expect_err("still in use");
    assert!(matches!(err, SocketError::StillInUse { .. }), "{err}");
    assert!(err.to_string().contains("after waiting"), "{err}");
    let err = bind_when_free(&path, 0o600, std::time::Duration::ZERO)
        .await
        .expect_err("no wait");
    assert!(matches!(err, SocketError::InUse { .. }), "{err}");
    std::os::unix::net::UnixStream::connect(&path).expect("the first still answers");
}

#[tokio::test]
async fn regular_file_is_not_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    std::fs::write(&path, b"data").expect("write");
    let err = bind(&path, 0o600).expect_err("not a socket");
    assert!(matches!(err, SocketError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("still there"), b"data");
}

#[tokio::test]
async fn guard_leaves_a_replaced_socket_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    let (listener, guard) = bind(&path, 0o600).expect("bind");
    drop(listener);
    std::fs::remove_file(&path).expect("remove");
    let _other = std::os::unix::net::UnixListener::bind(&path).expect("someone else binds");
    drop(guard);
    assert!(path.exists(), "a socket we did not create is kept");
}

/// The socket is staged where no other user can reach it: a 0700 directory, removed after.
#[tokio::test]
async fn the_socket_is_staged_in_a_private_directory_and_nothing_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.sock");
    let staging = private_dir(&path).expect("staging directory");
    let mode = std::fs::metadata(&staging)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "only this user can enter it");
    // A leftover of an earlier process with the same pid, socket included, does not stop a bind.
    drop(std::os::unix::net::UnixListener::bind(staging.join("socket")).expect("leftover"));
    let (_listener, _guard) = bind(&path, 0o600).expect("bind");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("k.sock")]);
}
