//! The names the writer owns in a target, and what it finds there before a write: which
//! generation `..data` names, which top-level links are its own, what was abandoned, and what
//! belongs to someone else.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::fsat::{self, Kind};
use super::{FileToWrite, WriteError, io_at};
use crate::catalogue;
use crate::limits::quote;

/// The link to the current generation.
pub(super) const DATA: &str = "..data";
/// Prefix of the writer's temporary links to a new generation (a random suffix follows).
const TMP_PREFIX: &str = "..data_tmp.";

/// What a target holds, read before a write.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// The generation `..data` points to, checked to be a sibling generation directory.
    pub(super) current: Option<String>,
    /// Top-level entries that are the writer's links: symlinks `<name> -> ..data/<name>`.
    pub(super) links: BTreeSet<String>,
    /// Generations and temporary links of this writer's own naming that `..data` does not name:
    /// left by a crash or a stopped write.
    pub(super) abandoned: Vec<(String, Kind)>,
    /// Everything else (what the writer did not create).
    pub(super) foreign: BTreeSet<String>,
}

impl Layout {
    /// Reads the layout of `dir` (the target at `target`), refusing a `..data` that is not a
    /// link to a sibling generation directory (of this writer's naming only, unless
    /// `kubernetes_generations`), and a non-empty target without `..data`.
    pub(super) fn read(
        dir: &OwnedFd,
        target: &Path,
        kubernetes_generations: bool,
    ) -> Result<Self, WriteError> {
        let refuse = |reason: String| WriteError::Target(target.to_owned(), reason);
        let current = match fsat::read_link_at(dir, DATA) {
            Ok(None) => None,
            Ok(Some(link)) => {
                let link_q = || quote(&link.to_string_lossy());
                let name = link
                    .to_str()
                    .filter(|n| is_generation(n))
                    .ok_or_else(|| refuse(catalogue::data_link_foreign(DATA, &link_q())))?;
                if !kubernetes_generations && !is_own_generation(name) {
                    return Err(refuse(catalogue::data_link_not_own(DATA, &link_q())));
                }
                let kind =
                    fsat::kind_at(dir, OsStr::new(name)).map_err(io_at("inspect", target))?;
                if kind != Some(Kind::Dir) {
                    return Err(refuse(catalogue::data_link_not_dir(DATA, &quote(name))));
                }
                Some(name.to_owned())
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                return Err(refuse(catalogue::data_not_link(DATA)));
            }
            Err(e) => return Err(io_at("read", &target.join(DATA))(e)),
        };
        let mut layout = Layout {
            current,
            ..Layout::default()
        };
        for (name, kind) in fsat::list(dir).map_err(io_at("list", target))? {
            let Some(name) = name.to_str().map(str::to_owned) else {
                layout.foreign.insert(name.to_string_lossy().into_owned());
                continue;
            };
            if name == DATA || Some(&name) == layout.current.as_ref() {
                continue;
            }
            let own = match kind {
                Kind::Dir => is_own_generation(&name),
                Kind::Symlink if is_own_tmp_link(&name) => true,
                Kind::Symlink if !name.starts_with("..") => {
                    let points_to =
                        fsat::read_link_at(dir, &name).map_err(io_at("read", target))?;
                    if points_to.is_some_and(|p| p == link_to(&name).as_str()) {
                        layout.links.insert(name);
                        continue;
                    }
                    false
                }
                _ => false,
            };
            if own {
                layout.abandoned.push((name, kind));
            } else {
                layout.foreign.insert(name);
            }
        }
        if layout.current.is_none()
            && let Some(first) = layout.foreign.iter().chain(&layout.links).next()
        {
            return Err(refuse(catalogue::target_not_empty(&quote(first), DATA)));
        }
        Ok(layout)
    }
}

/// What the writer's link for the top-level entry `name` points to.
pub(super) fn link_to(name: &str) -> String {
    format!("{DATA}/{name}")
}

/// A fresh generation name: `..<seconds>.<nanoseconds>.<8 hex>`.
pub(super) fn generation_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "..{}.{:09}.{}",
        now.as_secs(),
        now.subsec_nanos(),
        random_hex::<4>()
    )
}

/// A fresh temporary link name: `..data_tmp.<16 hex>`.
pub(super) fn tmp_link_name() -> String {
    format!("{TMP_PREFIX}{}", random_hex::<8>())
}

fn random_hex<const N: usize>() -> String {
    let mut random = [0u8; N];
    // Uniqueness, not secrecy: a failed fill still leaves the timestamp, and a clash fails the
    // exclusive create and is retried.
    let _ = aws_lc_rs::rand::fill(&mut random);
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name `generation_name` makes.
pub(super) fn is_own_generation(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("..") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    matches!(parts.as_slice(), [secs, nanos, suffix]
        if (1..=20).contains(&secs.len()) && digits(secs)
            && nanos.len() == 9 && digits(nanos)
            && suffix.len() == 8 && hex(suffix))
}

/// A generation the Kubernetes atomic writer makes (`..2006_01_02_15_04_05.<suffix>`), as the
/// driver leaves it when a volume was written in driver mode before.
fn is_kubernetes_generation(name: &str) -> bool {
    let Some((stamp, suffix)) = name.strip_prefix("..").and_then(|r| r.split_once('.')) else {
        return false;
    };
    let stamp_ok = stamp.len() == 19
        && stamp.bytes().enumerate().all(|(i, b)| {
            if [4, 7, 10, 13, 16].contains(&i) {
                b == b'_'
            } else {
                b.is_ascii_digit()
            }
        });
    stamp_ok
        && (1..=32).contains(&suffix.len())
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A name `..data` may point to.
pub(super) fn is_generation(name: &str) -> bool {
    is_own_generation(name) || is_kubernetes_generation(name)
}

fn is_own_tmp_link(name: &str) -> bool {
    name.strip_prefix(TMP_PREFIX)
        .is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The first path element of each file: the entries the writer links at the top level.
pub(super) fn top_level<'a>(files: &[FileToWrite<'a>]) -> BTreeSet<&'a str> {
    files
        .iter()
        .map(|f| f.path.split('/').next().unwrap_or(f.path))
        .collect()
}

/// True when the generation `generation` holds exactly `files` (same tree, contents and modes
/// as `mode_of` makes them)
/// and every top-level entry is already linked. Nothing is followed; the bytes read are wiped.
pub(super) fn unchanged(
    dir: &OwnedFd,
    generation: &str,
    files: &[FileToWrite<'_>],
    layout: &Layout,
    mode_of: impl Fn(u32) -> u32,
) -> bool {
    if !top_level(files).iter().all(|t| layout.links.contains(*t)) {
        return false;
    }
    let Ok(root) = fsat::open_dir_at(dir, OsStr::new(generation)) else {
        return false;
    };
    // Every directory of the tree and the names it must hold, nothing more.
    let mut tree: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for file in files {
        let mut path = file.path;
        loop {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            tree.entry(parent).or_default().insert(name);
            if parent.is_empty() {
                break;
            }
            path = parent;
        }
    }
    let same_tree = tree.iter().all(|(dir, expected)| {
        fsat::open_dir_beneath(&root, dir)
            .and_then(fsat::list)
            .is_ok_and(|entries| {
                entries.len() == expected.len()
                    && entries
                        .iter()
                        .all(|(n, _)| n.to_str().is_some_and(|n| expected.contains(n)))
            })
    });
    same_tree
        && files.iter().all(|f| {
            fsat::read_file(&root, f.path).is_ok_and(|found| {
                found.is_some_and(|(contents, mode)| {
                    mode == mode_of(f.mode) && *contents == f.contents
                })
            })
        })
}
