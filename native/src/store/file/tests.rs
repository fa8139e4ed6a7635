use super::*;
use crate::store::seal::KEY_LEN;
use base64::Engine as _;

const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
const LOGIN: &str = "https://mcp.example/mcp#https://as.example";

fn store(dir: &Path) -> FileStore {
    FileStore::with_key(dir, &KEY).unwrap()
}

#[test]
fn records_round_trip_and_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    assert_eq!(store.load(LOGIN).unwrap(), None);
    store.save(LOGIN, b"tokens-1").unwrap();
    store.save(LOGIN, b"tokens-2").unwrap();
    store.save("client#https://as.example", b"reg").unwrap();
    assert_eq!(
        store.load(LOGIN).unwrap().as_deref(),
        Some(&b"tokens-2"[..])
    );
    assert_eq!(store.keys().unwrap(), ["client#https://as.example", LOGIN]);
    store.delete(LOGIN).unwrap();
    store.delete(LOGIN).unwrap();
    assert_eq!(store.load(LOGIN).unwrap(), None);
    assert_eq!(store.keys().unwrap(), ["client#https://as.example"]);
}

#[test]
fn values_are_not_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.save(LOGIN, b"SECRET-REFRESH-TOKEN").unwrap();
    let raw = fs::read(store.record_path(LOGIN)).unwrap();
    assert!(!raw.windows(6).any(|w| w == b"SECRET"));
    assert!(!format!("{store:?}").contains("07"));
}

#[test]
fn a_wrong_key_fails_with_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path()).save(LOGIN, b"v").unwrap();
    let other = FileStore::with_key(dir.path(), &[8; KEY_LEN]).unwrap();
    let err = other.load(LOGIN).unwrap_err();
    assert_eq!(err.code(), "STORE");
    assert!(err.to_string().contains("cannot decrypt"), "{err}");
}

#[test]
fn any_tampered_byte_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.save(LOGIN, b"value").unwrap();
    let path = store.record_path(LOGIN);
    let original = fs::read(&path).unwrap();
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        assert!(
            store.load(LOGIN).is_err(),
            "flipping byte {i} went unnoticed"
        );
    }
    fs::write(&path, &original[..original.len() - 1]).unwrap();
    assert!(store.load(LOGIN).is_err());
    fs::write(&path, b"").unwrap();
    assert!(store.load(LOGIN).is_err());
}

#[test]
fn a_record_moved_to_another_keys_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.save("a", b"for a").unwrap();
    store.save("b", b"for b").unwrap();
    fs::copy(store.record_path("a"), store.record_path("b")).unwrap();
    let err = store.load("b").unwrap_err();
    assert!(err.to_string().contains("another key"), "{err}");
}

#[test]
fn keys_cannot_escape_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = store(&root);
    let evil = "../../escaped:/x";
    store.save(evil, b"v").unwrap();
    assert_eq!(store.load(evil).unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(store.keys().unwrap(), [evil]);
    let names: Vec<_> = fs::read_dir(root.join(RECORDS))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [format!("{}{RECORD_EXT}", hashed_name(evil))]);
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only store/ exists"
    );
}

#[test]
fn leftover_temporary_files_are_not_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.save("a", b"1").unwrap();
    fs::write(dir.path().join(RECORDS).join(".x.rec.1-2.tmp"), b"junk").unwrap();
    fs::write(dir.path().join(RECORDS).join("junk.rec"), b"junk").unwrap();
    assert_eq!(store.keys().unwrap(), ["a"]);
}

#[cfg(unix)]
#[test]
fn files_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let store = FileStore::open(&root).unwrap();
    store.save(LOGIN, b"v").unwrap();
    drop(store.lock(LOGIN).unwrap());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join(KEY_FILE)), 0o600);
    assert_eq!(mode(&root.join(RECORDS)), 0o700);
    assert_eq!(mode(&store.record_path(LOGIN)), 0o600);
    let lock = root
        .join(LOCKS)
        .join(format!("{}.lock", hashed_name(LOGIN)));
    assert_eq!(mode(&lock), 0o600);
}

#[test]
fn the_key_file_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    // Opened concurrently, every opener must agree on one key.
    let stores: Vec<FileStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| FileStore::open(dir.path()).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    stores[0].save("k", b"v").unwrap();
    for store in &stores {
        assert_eq!(store.load("k").unwrap().as_deref(), Some(&b"v"[..]));
    }
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap().len(), KEY_LEN);
    let leftovers = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_truncated_key_file_is_an_error_not_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(KEY_FILE), [1u8; 5]).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not 32 bytes"), "{err}");
}

#[test]
fn env_keys_must_be_32_bytes_of_base64() {
    let good = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
    assert_eq!(key_from_base64(&good).unwrap(), [3u8; 32]);
    assert!(key_from_base64("c2hvcnQ=").is_err());
    assert!(key_from_base64("not base64!").is_err());
}

#[test]
fn the_lock_excludes_a_second_locker() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let b = store(dir.path());
    let released = AtomicBool::new(false);
    let guard = a.lock(LOGIN).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let _second = b.lock(LOGIN).unwrap();
            released.load(Ordering::SeqCst)
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        released.store(true, Ordering::SeqCst);
        drop(guard);
        assert!(
            waiter.join().unwrap(),
            "second lock granted while the first was held"
        );
    });
    // Other keys are independent.
    let _x = a.lock("x").unwrap();
    let _y = b.lock("y").unwrap();
}

#[test]
fn records_under_a_prefix_are_read_in_one_pass_as_the_keys_and_loads_would_give_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.save("grant#https://b.example/mcp", b"b").unwrap();
    store.save("grant#https://a.example/mcp", b"a").unwrap();
    store.save("client#https://as.example", b"reg").unwrap();
    fs::write(dir.path().join(RECORDS).join("stranger.rec"), b"x").unwrap();
    let records = store.load_prefixed("grant#").unwrap();
    assert_eq!(
        records,
        [
            ("grant#https://a.example/mcp".to_owned(), b"a".to_vec()),
            ("grant#https://b.example/mcp".to_owned(), b"b".to_vec()),
        ]
    );
    // The generic path (keys, then a load each) agrees.
    let memory = crate::store::MemoryStore::new();
    for (key, value) in &records {
        memory.save(key, value).unwrap();
    }
    memory.save("client#https://as.example", b"reg").unwrap();
    assert_eq!(memory.load_prefixed("grant#").unwrap(), records);

    // A record that does not decrypt is an error, as its load is.
    let other = FileStore::with_key(dir.path(), &[8; KEY_LEN]).unwrap();
    assert_eq!(other.load_prefixed("grant#").unwrap_err().code(), "STORE");
    assert_eq!(other.load_prefixed("nothing#").unwrap(), []);
}
