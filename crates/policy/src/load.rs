//! Finding policy files, reading them, and the public entry points.

use std::collections::BTreeSet;
use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codes;
use crate::diag::{Diagnostic, Diagnostics, Sink};
use crate::model::{Account, Origin, PolicySet};
use crate::read::{Cx, read_file};
use crate::resolve::{ReadFile, build};
use crate::yaml::{self, LoadBudget, Pos};

/// Largest policy file moat reads; a file of 50,000 rules is a few MiB.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Diagnostics one load keeps from reading its files (shared fairly among
/// them), and as many again from resolving them together; the rest are
/// counted.
pub(crate) const MAX_DIAGNOSTICS: usize = 10_000;
/// Policy files one load may read: a hundred times the files of a large
/// organisation's repository, and a bound on what many tiny files cost.
pub(crate) const MAX_FILES: usize = 10_000;

/// The policy files named by `paths`: files as given, and every `*.yaml` /
/// `*.yml` directly inside a directory (sorted by name; hidden files and
/// subdirectories are skipped). A file named twice is read once.
///
/// Errors when a path cannot be read, when a directory holds no policy file,
/// or when nothing is found at all.
pub fn discover_policy_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut diags = Vec::new();
    let files = discover(paths, &mut diags);
    if diags.is_empty() {
        Ok(files)
    } else {
        let mut found = Sink::new(usize::MAX);
        diags.into_iter().for_each(|d| found.push(d));
        Err(finish(found))
    }
}

fn discover(paths: &[PathBuf], diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    // Paths and directory entries named like policies, kept or refused.
    let mut candidates = 0usize;
    let mut too_many = |at: &Path, diags: &mut Vec<Diagnostic>| {
        candidates += 1;
        if candidates <= MAX_FILES {
            return false;
        }
        diags.push(
            Diagnostic::error(
                Origin::whole(display(at)),
                codes::UNREADABLE,
                format!(
                    "more than {} policy files to load",
                    crate::names::thousands(MAX_FILES)
                ),
            )
            .with_hint("check the policies in several smaller loads"),
        );
        true
    };
    let mut push = |files: &mut Vec<PathBuf>, path: PathBuf| {
        let identity = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(identity) {
            files.push(path);
        }
    };
    'paths: for path in paths {
        if too_many(path, diags) {
            break;
        }
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                diags.push(unreadable(path, &e));
                continue;
            }
        };
        if meta.is_file() {
            push(&mut files, path.clone());
            continue;
        }
        if !meta.is_dir() {
            // Opening a named pipe blocks until something writes to it, and
            // a device may never end: refuse both before opening them.
            diags.push(not_a_file(path, &meta));
            continue;
        }
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                diags.push(unreadable(path, &e));
                continue;
            }
        };
        let mut found: Vec<PathBuf> = Vec::new();
        let reported = diags.len();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    diags.push(unreadable(path, &e));
                    continue;
                }
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_policy =
                (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.starts_with('.');
            if !is_policy {
                continue;
            }
            if too_many(path, diags) {
                break 'paths;
            }
            // Follow symbolic links: a linked policy file is a policy file,
            // and a broken link named like one is an error, not a skip.
            match fs::metadata(entry.path()) {
                Ok(m) if m.is_file() => found.push(entry.path()),
                // Subdirectories are not read, whatever their name.
                Ok(m) if m.is_dir() => {}
                Ok(m) => diags.push(not_a_file(&entry.path(), &m)),
                Err(e) => diags.push(unreadable(&entry.path(), &e)),
            }
        }
        if found.is_empty() && diags.len() == reported {
            diags.push(
                Diagnostic::error(
                    Origin::whole(display(path)),
                    codes::NO_POLICIES,
                    "no policy files (*.yaml, *.yml) in this directory",
                )
                .with_hint(
                    "point moat at a directory of policies, or at policy files; subdirectories are not read, so name each one that holds policies",
                ),
            );
        }
        found.sort();
        for file in found {
            push(&mut files, file);
        }
    }
    if paths.is_empty() {
        diags.push(
            Diagnostic::error(
                Origin::whole("."),
                codes::NO_POLICIES,
                "no policy paths given",
            )
            .with_hint("name policy files or directories of them"),
        );
    }
    files
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error(
        Origin::whole(display(path)),
        codes::UNREADABLE,
        format!("cannot read: {}", io_reason(e)),
    )
}

/// A path that is neither a regular file nor a directory.
fn not_a_file(path: &Path, meta: &fs::Metadata) -> Diagnostic {
    Diagnostic::error(
        Origin::whole(display(path)),
        codes::UNREADABLE,
        format!("not a regular file or a directory, but {}", file_kind(meta)),
    )
    .with_hint("policies are read from regular files; copy the policy into a file")
}

#[cfg(unix)]
fn file_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    }
}

#[cfg(not(unix))]
fn file_kind(_: &fs::Metadata) -> &'static str {
    "something else"
}

/// The operating system's reason, without the "(os error N)" suffix, in
/// lowercase like every diagnostic message.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text.to_owned(),
    }
}

/// Loads policy files and directories of them (see
/// [`discover_policy_files`]), checks them together and expands them.
///
/// Every problem of every file is reported, sorted by file, line and
/// column. Names of address sets and services are shared by all files; a
/// group may appear in only one of them.
pub fn load_policies(paths: &[PathBuf]) -> Result<PolicySet, Diagnostics> {
    load_policies_announcing(paths, &|_| {})
}

/// [`load_policies`], telling `announce` what each file declares as soon as
/// that file is read without a problem, before the files are checked
/// together (see [`Declared`]). Every file is announced once, in no fixed
/// order, from the threads that read them; a file with a problem is
/// announced with no groups. A caller may start reading the live groups
/// from the announcements; only the returned set says what the policies
/// are.
pub fn load_policies_announcing(
    paths: &[PathBuf],
    announce: &(dyn Fn(Declared) + Sync),
) -> Result<PolicySet, Diagnostics> {
    let mut diags = Vec::new();
    let files = discover(paths, &mut diags);
    let sources = files
        .iter()
        .map(|path| {
            let name: Arc<str> = Arc::from(display(path));
            let text = read_text(path, &name);
            (name, text)
        })
        .collect();
    check(sources, diags, announce).map_err(|mut diags| {
        hint_unloaded_definitions(&files, &mut diags);
        diags
    })
}

/// The most files beside a loaded one that are looked into for the
/// definition of an unknown name, and the most bytes read of each.
const SIBLINGS_SCANNED: usize = 200;
const SIBLING_BYTES: u64 = 1 << 20;

/// For a name reported unknown, looks for its definition in the policy
/// files beside the loaded ones that were not loaded (the user named files,
/// not their directory), and says so in the hint: load the directory.
fn hint_unloaded_definitions(files: &[PathBuf], diags: &mut Diagnostics) {
    let unknown: Vec<usize> = diags
        .iter()
        .enumerate()
        .filter(|(_, d)| d.code == codes::UNKNOWN_NAME)
        .map(|(i, _)| i)
        .collect();
    if unknown.is_empty() {
        return;
    }
    let loaded: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| fs::canonicalize(f).ok())
        .collect();
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    // (directory, file, text) of every policy file beside a loaded one
    // that was not loaded.
    let mut siblings: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    'dirs: for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        names.sort();
        for path in names {
            if siblings.len() >= SIBLINGS_SCANNED {
                break 'dirs;
            }
            let regular =
                fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() <= SIBLING_BYTES);
            let is_loaded = fs::canonicalize(&path).is_ok_and(|c| loaded.contains(&c));
            if !regular || is_loaded {
                continue;
            }
            if let Ok(text) = fs::read_to_string(&path) {
                siblings.push((dir.clone(), path, text));
            }
        }
    }
    for i in unknown {
        let d = &mut diags.0[i];
        // A closer hint (did you mean, a name of the other kind) stays.
        let generic = d
            .hint
            .as_deref()
            .is_none_or(|h| h.starts_with("a service is") || h.starts_with("a peer is"));
        if !generic {
            continue;
        }
        // The message is `unknown address set "NAME"` (or service).
        let Some(name) = d
            .message
            .split_once('"')
            .and_then(|(_, rest)| rest.rsplit_once('"'))
            .map(|(name, _)| name.to_owned())
        else {
            continue;
        };
        let defines = |text: &str| {
            text.lines().any(|line| {
                let key = line.trim_start();
                key.strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
        };
        if let Some((dir, file, _)) = siblings.iter().find(|(_, _, text)| defines(text)) {
            d.hint = Some(format!(
                "{name:?} may be defined in {}, which was not loaded: load the whole directory ({}) rather than single files",
                display(file),
                display(dir),
            ));
        }
    }
}

/// Loads one policy from text; `file` is the name its diagnostics carry.
pub fn load_policy_str(file: &str, text: &str) -> Result<PolicySet, Diagnostics> {
    load_policy_strs(&[(file, text)])
}

/// Loads several policies from text as if they were files loaded together
/// (names shared, groups defined once).
pub fn load_policy_strs(files: &[(&str, &str)]) -> Result<PolicySet, Diagnostics> {
    let sources = files
        .iter()
        .map(|(name, text)| (Arc::from(*name), Ok((*text).to_owned())))
        .collect();
    check(sources, Vec::new(), &|_| {})
}

/// A file's name and its text, or why it could not be read.
type Source = (Arc<str>, Result<String, Diagnostic>);

fn check(
    sources: Vec<Source>,
    diags: Vec<Diagnostic>,
    announce: &(dyn Fn(Declared) + Sync),
) -> Result<PolicySet, Diagnostics> {
    // Reading keeps a fair share of the diagnostics per file, and resolving
    // as many again, so that a report stays readable and bounded however
    // many problems the input holds.
    let share = (MAX_DIAGNOSTICS / sources.len().max(1)).max(1);
    let mut found = Sink::new(usize::MAX);
    diags.into_iter().for_each(|d| found.push(d));
    let first_file = sources.first().map(|(file, _)| Arc::clone(file));
    let budget = LoadBudget::new();
    let mut read = Vec::with_capacity(sources.len());
    for (file, file_diags) in read_all(sources, share, &budget, announce) {
        found.append(file_diags);
        read.extend(file);
    }
    if budget.exceeded() {
        // Which files were read before the budget ran out depends on how
        // the threads ran; only this one problem is certain, so it alone
        // is reported.
        let file = first_file.unwrap_or_else(|| Arc::from("."));
        return Err(Diagnostics(vec![
            Diagnostic::error(
                Origin::whole(file),
                codes::YAML_SYNTAX,
                format!(
                    "invalid YAML: the files loaded together have more than {} YAML nodes",
                    crate::names::thousands(yaml::MAX_LOAD_NODES)
                ),
            )
            .with_hint("check the policies in several smaller loads"),
        ]));
    }
    let mut resolved = Sink::new(MAX_DIAGNOSTICS);
    let set = build(read, &mut resolved);
    found.append(resolved);
    if found.count() == 0 {
        Ok(set)
    } else {
        Err(finish(found))
    }
}

/// Parses and reads every file, spread over the machine's cores: parsing
/// is most of the time of a load, and files are independent until names are
/// resolved. Results keep the order of `sources`, which decides which of two
/// definitions of a name is the first. Each file keeps at most `share`
/// diagnostics.
fn read_all(
    sources: Vec<Source>,
    share: usize,
    budget: &LoadBudget,
    announce: &(dyn Fn(Declared) + Sync),
) -> Vec<(Option<ReadFile>, Sink)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8)
        .min(sources.len());
    let read = move |index: usize, source| {
        let (file, diags) = read_one(source, share, budget);
        announce(Declared::of(
            index,
            file.as_ref().filter(|_| diags.count() == 0),
        ));
        (file, diags)
    };
    let order = parse_order(&sources);
    let slots: Vec<std::sync::Mutex<Option<Source>>> = sources
        .into_iter()
        .map(|s| std::sync::Mutex::new(Some(s)))
        .collect();
    // Each thread takes the next file not yet taken, so that a thread the
    // machine runs less (other processes share the cores) does fewer.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let taken = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&i) = order.get(taken) else {
                return done;
            };
            let slot = &slots[i];
            // Every slot is taken once; a poisoned lock only means another
            // reader panicked, which is passed on below.
            let source = slot.lock().ok().and_then(|mut s| s.take());
            if let Some(source) = source {
                done.push((i, read(i, source)));
            }
        }
    };
    let mut read: Vec<(usize, (Option<ReadFile>, Sink))> = if threads <= 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                // A worker only panics if reading panics, which is a bug;
                // pass it on rather than lose files silently.
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    read.sort_unstable_by_key(|(i, _)| *i);
    read.into_iter().map(|(_, r)| r).collect()
}

/// The order files are parsed in: first those that define `accounts:` (a
/// plan reads an account's groups early only once the account is defined,
/// and the definitions tend to sit in a small file of their own, which
/// sorts anywhere), then the rest as given. Only the order of the work
/// changes: results and announcements keep their files' indices.
fn parse_order(sources: &[Source]) -> Vec<usize> {
    let defines_accounts =
        |text: &str| text.starts_with("accounts:") || text.contains("\naccounts:");
    let (mut order, rest): (Vec<usize>, Vec<usize>) = (0..sources.len())
        .partition(|&i| matches!(&sources[i].1, Ok(text) if defines_accounts(text)));
    order.extend(rest);
    order
}

/// Parses and reads one file on its own, keeping at most `share`
/// diagnostics.
fn read_one((file, text): Source, share: usize, budget: &LoadBudget) -> (Option<ReadFile>, Sink) {
    let mut diags = Sink::new(share);
    let text = match text {
        Ok(text) => text,
        Err(d) => {
            diags.push(d);
            return (None, diags);
        }
    };
    let root = match yaml::parse(&text, budget) {
        Ok(root) => root,
        Err(e) => {
            let mut d = Diagnostic::error(
                origin(&file, e.pos),
                codes::YAML_SYNTAX,
                format!("invalid YAML: {}", e.message),
            );
            d.hint = e.hint;
            diags.push(d);
            return (None, diags);
        }
    };
    // The text is not needed once parsed; free it before reading the tree.
    drop(text);
    let mut cx = Cx {
        file: &file,
        diags: &mut diags,
    };
    let doc = read_file(&mut cx, &root);
    (Some(ReadFile { file, doc }), diags)
}

/// What one policy file declares about where its groups are, announced by
/// [`load_policies_announcing`] as soon as the file is read: enough to
/// start reading the live groups while the load goes on. Nothing in it is
/// checked against the other files yet (a group may still turn out to be
/// defined twice, or to name an account or stage that does not exist).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// The file's place in load order, from 0.
    pub file: usize,
    /// The groups of the file, in its order; none when it has a problem.
    pub groups: Vec<DeclaredGroup>,
    /// The accounts its `accounts:` block defines; none when it has a
    /// problem.
    pub accounts: Vec<Account>,
    /// What its `tests:` name; none when it has a problem.
    pub tests: Vec<TestTarget>,
}

/// The groups one test names: a group by id, or every group that uses a
/// template (directly, or through another template).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestTarget {
    Group(String),
    Template(String),
}

/// One group as its file declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredGroup {
    pub id: String,
    pub region: String,
    pub account: Option<String>,
    pub stage: Option<String>,
    /// The templates it uses itself (`use:`), not those they use.
    pub uses: Vec<String>,
}

impl Declared {
    fn of(file: usize, read: Option<&ReadFile>) -> Declared {
        let groups = read
            .and_then(|r| r.doc.security_groups.as_ref())
            .map(|groups| {
                groups
                    .iter()
                    .filter_map(|g| {
                        Some(DeclaredGroup {
                            id: g.id.as_ref()?.value.clone(),
                            region: g.region.as_ref()?.value.clone(),
                            account: g.account.as_ref().map(|a| a.value.clone()),
                            stage: g.stage.as_ref().map(|s| s.value.clone()),
                            uses: g
                                .uses
                                .as_ref()
                                .map(|u| u.value.iter().map(|t| t.value.clone()).collect())
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let accounts = read
            .and_then(|r| r.doc.accounts.as_ref().map(|a| (r, a)))
            .map(|(r, accounts)| {
                accounts
                    .0
                    .iter()
                    .filter_map(|(name, entry)| {
                        let entry = entry.as_ref()?;
                        Some(Account {
                            name: name.value.clone(),
                            profile: entry.profile.as_ref()?.value.clone(),
                            endpoint: entry.endpoint.as_ref().map(|e| e.value.clone()),
                            origin: origin(&r.file, name.pos),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tests = read
            .and_then(|r| r.doc.tests.as_ref())
            .map(|tests| {
                tests
                    .iter()
                    .filter_map(|t| match (&t.group, &t.template) {
                        (Some(g), _) => Some(TestTarget::Group(g.value.clone())),
                        (None, Some(t)) => Some(TestTarget::Template(t.value.clone())),
                        (None, None) => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Declared {
            file,
            groups,
            accounts,
            tests,
        }
    }
}

/// Sorts what was kept by location; problems beyond the limits are counted
/// in one last diagnostic.
fn finish(found: Sink) -> Diagnostics {
    let mut diags = Diagnostics(found.kept);
    diags.sort();
    if found.dropped > 0 {
        let file = found
            .first_dropped
            .map_or_else(|| Arc::from("."), |o| o.file);
        diags.push(
            Diagnostic::error(
                Origin::whole(file),
                codes::TOO_MANY_PROBLEMS,
                format!(
                    "{} more problems are not shown",
                    crate::names::thousands(found.dropped)
                ),
            )
            .with_hint("fix the problems above and check again"),
        );
    }
    diags
}

fn origin(file: &Arc<str>, pos: Pos) -> Origin {
    Origin {
        file: Arc::clone(file),
        line: pos.line,
        column: pos.column,
    }
}

/// Reads a file as UTF-8 text, refusing files too large to be a policy.
fn read_text(path: &Path, name: &Arc<str>) -> Result<String, Diagnostic> {
    // Discovery checked the kind already; checking again just before
    // opening keeps a pipe put in a file's place from blocking the load.
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(not_a_file(path, &meta)),
        Ok(_) => {}
        Err(e) => return Err(unreadable(path, &e)),
    }
    let file = fs::File::open(path).map_err(|e| unreadable(path, &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(path, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            Origin::whole(Arc::clone(name)),
            codes::UNREADABLE,
            format!(
                "the file is larger than {} MiB",
                MAX_FILE_BYTES / 1024 / 1024
            ),
        )
        .with_hint("split the policy into several files"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = e.utf8_error().valid_up_to();
        // The prefix up to `good` is valid UTF-8 by definition of
        // `valid_up_to`, so this conversion cannot fail.
        let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Diagnostic::error(
            Origin {
                file: Arc::clone(name),
                line: u32::try_from(line).unwrap_or(u32::MAX),
                column: u32::try_from(column).unwrap_or(u32::MAX),
            },
            codes::UNREADABLE,
            format!(
                "the file is not UTF-8 text (byte 0x{:02X})",
                bytes.get(good).copied().unwrap_or_default()
            ),
        )
        .with_hint("save the file as UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("moat-policy-load-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("creating a scratch directory");
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("creating directories");
            }
            fs::write(&path, text).expect("writing a file");
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn names(files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn directories_contribute_their_policy_files_in_name_order() {
        let s = Scratch::new("order");
        s.write("b.yml", "version: 1\n");
        s.write("a.yaml", "version: 1\n");
        s.write("c.txt", "version: 1\n");
        s.write(".hidden.yaml", "version: 1\n");
        s.write("sub/d.yaml", "version: 1\n");
        let files = discover_policy_files(std::slice::from_ref(&s.0)).expect("found");
        assert_eq!(names(&files), ["a.yaml", "b.yml"]);
    }

    #[test]
    fn files_defining_accounts_are_parsed_first_and_keep_their_place() {
        let source = |name: &str, text: &str| (Arc::from(name), Ok(text.to_owned()));
        let sources = vec![
            source("a.yaml", "version: 1\nsecurity_groups: []\n"),
            source(
                "b.yaml",
                "# prod\nversion: 1\naccounts:\n  prod: {profile: p}\n",
            ),
            (
                Arc::from("c.yaml"),
                Err(Diagnostic::error(
                    Origin::whole(Arc::from("c.yaml")),
                    codes::YAML_SYNTAX,
                    "unreadable",
                )),
            ),
            source("d.yaml", "accounts: {}\n"),
            source(
                "e.yaml",
                "version: 1\n# accounts: are elsewhere\nx_accounts: 1\n",
            ),
        ];
        assert_eq!(parse_order(&sources), [1, 3, 0, 2, 4]);
        // The set is the same whatever the order the files were parsed in.
        let s = Scratch::new("order");
        s.write("a-groups.yaml", "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n    account: prod\n");
        s.write(
            "b-accounts.yaml",
            "version: 1\naccounts:\n  prod: {profile: prod}\n",
        );
        let set = load_policies(std::slice::from_ref(&s.0)).expect("valid");
        assert_eq!(set.groups[0].account.as_deref(), Some("prod"));
        assert_eq!(set.accounts[0].origin.line, 3);
    }

    #[test]
    fn each_file_is_announced_once_with_its_groups_and_a_broken_one_with_none() {
        let s = Scratch::new("announce");
        s.write(
            "a.yaml",
            "version: 1\nstages: [test, prod]\naccounts:\n  prod: {profile: prod}\ntemplates:\n  web: {}\ntests:\n  - {name: no ssh, group: sg-bp1b1, from: 0.0.0.0/0, port: tcp/22, expect: deny}\n  - {name: no db, template: web, from: 0.0.0.0/0, port: tcp/3306, expect: deny}\n",
        );
        s.write(
            "b.yaml",
            "version: 1\nsecurity_groups:\n  - id: sg-bp1b2\n    region: cn-shanghai\n    stage: prod\n    account: prod\n  - id: sg-bp1b1\n    region: cn-hangzhou\n    use: [web]\n",
        );
        s.write(
            "c.yaml",
            "version: 1\nsecurity_groups:\n  - id: sg-bp1c\n    region: cn-hangzhou\n    ingress:\n      - {allow: tcp/22, from: nowhere}\n",
        );
        s.write("d.yaml", "version: 1\nsecurity_groups: [\n");
        let heard = std::sync::Mutex::new(Vec::new());
        let result = load_policies_announcing(std::slice::from_ref(&s.0), &|d| {
            heard.lock().expect("not poisoned").push(d);
        });
        assert!(result.is_err(), "c.yaml and d.yaml are invalid");
        let mut heard = heard.into_inner().expect("not poisoned");
        heard.sort_by_key(|d| d.file);
        let group =
            |id: &str, region: &str, account: Option<&str>, stage: Option<&str>| DeclaredGroup {
                id: id.to_owned(),
                region: region.to_owned(),
                account: account.map(str::to_owned),
                stage: stage.map(str::to_owned),
                uses: vec![],
            };
        let prod = Account {
            name: "prod".to_owned(),
            profile: "prod".to_owned(),
            endpoint: None,
            origin: Origin {
                file: Arc::from(display(&s.0.join("a.yaml")).as_str()),
                line: 4,
                column: 3,
            },
        };
        assert_eq!(
            heard,
            [
                Declared {
                    file: 0,
                    groups: vec![],
                    accounts: vec![prod],
                    tests: vec![
                        TestTarget::Group("sg-bp1b1".to_owned()),
                        TestTarget::Template("web".to_owned()),
                    ],
                },
                Declared {
                    file: 1,
                    groups: vec![
                        group("sg-bp1b2", "cn-shanghai", Some("prod"), Some("prod")),
                        DeclaredGroup {
                            uses: vec!["web".to_owned()],
                            ..group("sg-bp1b1", "cn-hangzhou", None, None)
                        },
                    ],
                    accounts: vec![],
                    tests: vec![],
                },
                // An unknown name is found only when the files are checked
                // together: the file itself reads without a problem.
                Declared {
                    file: 2,
                    groups: vec![group("sg-bp1c", "cn-hangzhou", None, None)],
                    accounts: vec![],
                    tests: vec![],
                },
                Declared {
                    file: 3,
                    groups: vec![],
                    accounts: vec![],
                    tests: vec![],
                },
            ]
        );
    }

    #[test]
    fn a_file_named_twice_is_read_once() {
        let s = Scratch::new("twice");
        let file = s.write(
            "web.yaml",
            "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n",
        );
        let paths = [s.0.clone(), file.clone(), file];
        assert_eq!(discover_policy_files(&paths).map(|f| f.len()), Ok(1));
        let set = load_policies(&paths).expect("no duplicate group");
        assert_eq!(set.groups.len(), 1);
    }

    #[test]
    fn nothing_found_is_an_error() {
        let s = Scratch::new("nothing");
        let missing = s.0.join("missing.yaml");
        let err = load_policies(&[s.0.clone(), missing]).expect_err("nothing to load");
        let codes: Vec<&str> = err.iter().map(|d| d.code).collect();
        assert_eq!(codes, [codes::NO_POLICIES, codes::UNREADABLE]);
        assert!(err.iter().all(|d| d.origin.line == 0));
        let err = load_policies(&[]).expect_err("no paths");
        assert_eq!(
            err.iter().map(|d| d.code).collect::<Vec<_>>(),
            [codes::NO_POLICIES]
        );
    }

    #[test]
    fn the_first_file_in_name_order_holds_the_first_definition() {
        let s = Scratch::new("first");
        s.write("a.yaml", "version: 1\naddresses:\n  office: 10.0.0.0/8\n");
        s.write("b.yaml", "version: 1\naddresses:\n  office: 10.0.0.0/8\n");
        let err = load_policies(std::slice::from_ref(&s.0)).expect_err("defined twice");
        let d = err.iter().next().expect("one diagnostic");
        assert_eq!(d.code, codes::DUPLICATE_NAME);
        assert!(d.origin.file.ends_with("b.yaml"), "{d}");
    }

    /// A named pipe is refused without opening it: opening one for reading
    /// blocks until a writer comes, which would hang the load.
    #[cfg(unix)]
    #[test]
    fn named_pipes_and_devices_are_refused_at_once() {
        let s = Scratch::new("fifo");
        let fifo = s.0.join("pipe.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("running mkfifo");
        assert!(made.success());
        for paths in [
            vec![fifo.clone()],
            vec![s.0.clone()],
            vec![PathBuf::from("/dev/null")],
        ] {
            let err = load_policies(&paths).expect_err("not a file");
            let d = err.iter().next().expect("one diagnostic");
            assert_eq!((d.code, d.origin.line), (codes::UNREADABLE, 0), "{d}");
            assert!(d.message.starts_with("not a regular file"), "{d}");
        }
        let err = load_policies(&[fifo]).expect_err("a pipe");
        assert!(err.iter().any(|d| d.message.ends_with("a named pipe")));
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let s = Scratch::new("large");
        let path = s.0.join("large.yaml");
        let file = fs::File::create(&path).expect("creating");
        file.set_len(MAX_FILE_BYTES + 1).expect("sizing");
        let err = load_policies(&[path]).expect_err("too large");
        assert_eq!(
            err.iter().map(|d| d.code).collect::<Vec<_>>(),
            [codes::UNREADABLE]
        );
    }

    #[test]
    fn strings_load_like_files() {
        let set = load_policy_strs(&[
            ("book.yaml", "version: 1\naddresses:\n  vpn: 10.8.0.0/16\n"),
            (
                "web.yaml",
                "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n    \
                 ingress:\n      - allow: tcp/22\n        from: vpn\n",
            ),
        ])
        .expect("valid");
        let rule = &set.groups[0].rules[0];
        assert_eq!(
            rule.rule.key.to_string(),
            "ingress accept tcp/22 from 10.8.0.0/16"
        );
        assert_eq!(rule.origin.to_string(), "web.yaml:6:9");
        assert_eq!(rule.peer_name.as_deref(), Some("vpn"));
    }
}
