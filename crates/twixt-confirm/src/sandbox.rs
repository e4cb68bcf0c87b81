//! Running an untrusted program contained: the one place in twixt that executes its input.
//!
//! qemu-user passes the guest's system calls to the host kernel: it is an emulator, not a
//! sandbox. So every run gets, where the machine allows it (each measure is probed, and
//! what was in force is reported in [`Containment`]):
//! - a fresh work directory (a copy of the program in it), the only writable place: in a new
//!   mount namespace every mount is remounted read-only and the work directory bound
//!   writable over itself;
//! - no network: a new network namespace, with no interface up (not even loopback);
//! - a new PID namespace, so every process the program starts, even one that left the
//!   process group with `setsid`, dies with it;
//! - as root, the program runs as an unprivileged uid of its own ([`run_uid`]; no other
//!   process has it): root ignores `RLIMIT_NPROC`, which counts the processes of a *user*,
//!   so a fresh uid per run makes the limit that run's alone (two runs at once do not eat
//!   each other's budget), and that uid may write nowhere but world-writable places (all
//!   read-only here);
//! - resource limits ([`Limits`]) on CPU time, address space, file size, processes, open
//!   files and core dumps, set with util-linux `prlimit`;
//! - at the timeout, the whole process group and the namespace are killed with SIGKILL; the
//!   work directory is removed after every run.
//!
//! Everything is done with util-linux tools (`unshare`, `setpriv`, `prlimit`, `mount`) and a
//! POSIX shell, not with `pre_exec` hooks (the workspace forbids unsafe code). Without
//! namespaces (a container that refuses `unshare`) the run still has its own work directory,
//! process group, limits and, as root, the unprivileged user, and the report says that the
//! network and the file system were not isolated.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The first of the uids a root caller drops to: far above any real user's.
pub const UID_BASE: u32 = 0x5EED_0000;

/// A uid for one run, unique within this machine while the process lives: `UID_BASE`
/// plus 16 bits of the process id and 8 of a counter.
pub fn run_uid() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u32 & 0xff;
    UID_BASE + (((std::process::id() & 0xffff) << 8) | n)
}

/// Prefix of the lines the sandbox itself writes to the program's stderr.
pub const NOTE_PREFIX: &str = "twixt-sandbox: ";

/// Resource limits of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// `RLIMIT_CPU`, seconds of CPU time (all threads).
    pub cpu_seconds: u64,
    /// `RLIMIT_AS`, bytes of address space. qemu-user and the Go runtime reserve address
    /// space generously: a stress driver under qemu 7.2 dies with SIGSEGV at 1 GiB and runs
    /// at 2 GiB (measured), so the default is 4 GiB.
    pub address_space: u64,
    /// `RLIMIT_FSIZE`, bytes per file written.
    pub file_size: u64,
    /// `RLIMIT_NPROC`: processes and threads of the user the program runs as.
    pub processes: u64,
    /// `RLIMIT_NOFILE`: open files.
    pub open_files: u64,
    /// Bytes of stdout and of stderr kept (the rest is read and dropped).
    pub output_bytes: usize,
}

impl Limits {
    /// Limits for a run of `timeout`: CPU time for every core for the whole timeout plus 10 s
    /// (so the timeout, not the CPU limit, ends a healthy run), 4 GiB of address space,
    /// 64 MiB files, and 128 processes or 4 per core, whichever is more (a Go program under
    /// qemu uses about GOMAXPROCS + 5 threads).
    pub fn for_timeout(timeout: Duration) -> Limits {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        Limits {
            cpu_seconds: timeout.as_secs().saturating_add(1).saturating_mul(cores) + 10,
            address_space: 4 << 30,
            file_size: 64 << 20,
            processes: (4 * cores).max(128),
            open_files: 1024,
            output_bytes: 4 << 20,
        }
    }
}

/// What was in force for a run, in words, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Containment {
    /// Network isolation.
    pub network: String,
    /// What the program may write.
    pub filesystem: String,
    /// Whom it runs as.
    pub user: String,
    /// What ends its processes.
    pub processes: String,
    /// The limits.
    pub limits: Limits,
}

/// One program to run.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The program file, copied into the work directory as `name`.
    pub program: PathBuf,
    /// Its name in the work directory.
    pub name: String,
    /// What runs it, before `./name` (e.g. qemu and its flag); empty to run it directly.
    pub runner: Vec<OsString>,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// Wall-clock budget.
    pub timeout: Duration,
    /// Limits.
    pub limits: Limits,
    /// Files in the work directory to read back after the run (e.g. a trace).
    pub collect: Vec<String>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how", content = "value")]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it (not the timeout's).
    Signal(i32),
    /// The timeout: twixt killed it.
    Timeout,
    /// Still running when the observer of [`run_attached`] was done with it: twixt killed
    /// it.
    Stopped,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Ran {
    /// How it ended.
    pub ended: Ended,
    /// Wall time from start to end (or to the kill).
    pub seconds: f64,
    /// Its stdout (lossy UTF-8, at most `limits.output_bytes`).
    pub stdout: String,
    /// Its stderr, without the sandbox's own notes.
    pub stderr: String,
    /// Whether output was dropped at the limit.
    pub truncated: bool,
    /// Processes still in the sandbox when the timeout killed it (0 when it ended itself).
    pub killed: usize,
    /// The sandbox's own notes (mounts it could not make read-only).
    pub notes: Vec<String>,
    /// The files asked for in [`Launch::collect`] that exist, by name.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// How the machine lets twixt isolate a run (probed once per process).
#[derive(Clone, Debug)]
struct Support {
    /// The effective uid is 0.
    root: bool,
    /// `unshare` with net, mount and pid namespaces works (the reason when not).
    namespaces: Result<(), String>,
}

fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(|| {
        let root = effective_uid() == Some(0);
        let namespaces = Command::new("unshare")
            .args(unshare_args(root))
            .arg("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run unshare: {e}"))
            .and_then(|o| {
                if o.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "unshare refused: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ))
                }
            });
        if let Err(why) = &namespaces {
            tracing::warn!("no namespaces for twixt confirm: {why}");
        }
        Support { root, namespaces }
    })
}

/// The effective uid, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn unshare_args(root: bool) -> Vec<&'static str> {
    let mut args = Vec::new();
    if !root {
        // An unprivileged caller needs a user namespace to make the others.
        args.extend(["--user", "--map-root-user"]);
    }
    args.extend([
        "--net",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
    ]);
    args
}

/// The script that runs inside the namespaces: `$1` the work directory, `$2` the uid to
/// drop to (`-`: none), then `--` and the command. Every mount becomes read-only, the work
/// directory writable again; the shell stays as the namespace's init (PID 1 ignores
/// signals it has no handler for, which would change how the program dies) and exits with
/// the program's status (128 + N for signal N).
const INNER: &str = r#"w=$1; drop=$2; shift 3
cut -d' ' -f5 /proc/self/mountinfo | sort -ru | while IFS= read -r m; do
  m=$(printf '%b' "$m")
  mount -o remount,bind,ro "$m" 2>/dev/null || echo "twixt-sandbox: not read-only: $m" >&2
done
if ! { mount --bind "$w" "$w" && mount -o remount,bind,rw "$w"; }; then
  echo "twixt-sandbox: cannot make the work directory writable" >&2; exit 125
fi
cd "$w" || exit 125
if [ "$drop" != - ]; then
  set -- setpriv --reuid="$drop" --regid="$drop" --clear-groups --no-new-privs -- "$@"
fi
"$@"
exit $?
"#;

/// What [`run`] will put in force on this machine with these limits.
pub fn containment(limits: &Limits) -> Containment {
    let s = support();
    let user = if s.root {
        "an unprivileged uid of its own, not root (root ignores RLIMIT_NPROC)".to_string()
    } else {
        format!("your own uid {}", effective_uid().unwrap_or(u32::MAX))
    };
    match &s.namespaces {
        Ok(()) => Containment {
            network: "new network namespace: no interface up, not even loopback".into(),
            filesystem: "new mount namespace: every mount read-only except the fresh work \
                         directory, removed after the run"
                .into(),
            user,
            processes: "own process group and PID namespace: all killed at the timeout".into(),
            limits: limits.clone(),
        },
        Err(why) => Containment {
            network: format!("NOT isolated ({why})"),
            filesystem: format!(
                "fresh work directory, removed after the run; the rest of the file system is \
                 NOT made read-only ({why})"
            ),
            user,
            processes: "own process group: killed at the timeout (no PID namespace)".into(),
            limits: limits.clone(),
        },
    }
}

/// A fresh, empty directory for one run, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "twixt-confirm-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)
            .map_err(|e| format!("{}: cannot create the work directory: {e}", path.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: cannot set permissions: {e}", path.display()))?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(
                "{}: cannot remove the work directory: {e}",
                self.0.display()
            );
        }
    }
}

/// In [`Launch::runner`], stands for the run's work directory (the same path inside the
/// sandbox and outside, since it is bound over itself): e.g. qemu's `-g {work}/gdb.sock`, a
/// Unix socket twixt can reach although the program has no network.
pub const WORK_DIR: &str = "{work}";

/// What the observer of [`run_attached`] wants once it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Let the program run to its end (or the timeout).
    Wait,
    /// Kill it now ([`Ended::Stopped`] if it was still running).
    Stop,
}

/// A program running contained, as its observer sees it.
pub struct Attached<'a> {
    work: &'a std::path::Path,
    deadline: Instant,
    started: Instant,
    child: &'a mut Child,
}

impl Attached<'_> {
    /// The run's work directory (the program's current directory).
    pub fn work_dir(&self) -> &std::path::Path {
        self.work
    }

    /// When the timeout kills the run.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// When the program was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Whether the sandbox (and so the program) is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A fresh work directory with an executable copy of the program (owned by the run's uid
/// when twixt is root), and that uid.
fn prepare(launch: &Launch, root: bool) -> Result<(WorkDir, u32), String> {
    let work = WorkDir::new()?;
    let prog = work.0.join(&launch.name);
    std::fs::copy(&launch.program, &prog).map_err(|e| {
        format!(
            "{}: cannot copy into the work directory: {e}",
            launch.program.display()
        )
    })?;
    // The copy is what runs, so it is executable whatever the original's mode: the toolchain
    // binaries scripts/realworld unpacks are 0644, and qemu-user refuses a file without the
    // execute bit with a bare exit status 1 and no message.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: cannot make it executable: {e}", prog.display()))?;
    let uid = run_uid();
    if root {
        for p in [&work.0, &prog] {
            std::os::unix::fs::chown(p, Some(uid), Some(uid))
                .map_err(|e| format!("{}: cannot chown to {uid}: {e}", p.display()))?;
        }
    }
    Ok((work, uid))
}

/// `prlimit ... -- env -i K=V ... RUNNER ./name ARGS`, with [`WORK_DIR`] in the runner's
/// arguments replaced by `work`.
fn inner_command(launch: &Launch, work: &std::path::Path) -> Vec<OsString> {
    let l = &launch.limits;
    let mut inner: Vec<OsString> = vec![
        "prlimit".into(),
        format!("--cpu={}", l.cpu_seconds).into(),
        format!("--as={}", l.address_space).into(),
        format!("--fsize={}", l.file_size).into(),
        format!("--nproc={}", l.processes).into(),
        format!("--nofile={}", l.open_files).into(),
        "--core=0".into(),
        "--".into(),
        "env".into(),
        "-i".into(),
    ];
    inner.extend(
        launch
            .env
            .iter()
            .map(|(k, v)| OsString::from(format!("{k}={v}"))),
    );
    let work_text = work.to_string_lossy().into_owned();
    inner.extend(launch.runner.iter().map(|r| match r.to_str() {
        Some(t) if t.contains(WORK_DIR) => OsString::from(t.replace(WORK_DIR, &work_text)),
        _ => r.clone(),
    }));
    inner.push(format!("./{}", launch.name).into());
    inner.extend(launch.args.iter().map(OsString::from));
    inner
}

/// Waits for the sandbox to end, killing it at `deadline` or at once when the observer
/// said [`After::Stop`]: its status (none if killed), how many processes were killed, and
/// whether the observer stopped it.
fn wait(
    child: &mut Child,
    after: After,
    deadline: Instant,
) -> Result<(Option<std::process::ExitStatus>, usize, bool), String> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok((Some(status), 0, false)),
            Ok(None) if after == After::Stop => return Ok((None, kill_all(child), true)),
            Ok(None) if Instant::now() >= deadline => return Ok((None, kill_all(child), false)),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for the program: {e}")),
        }
    }
}

/// How the run ended, from the sandbox's status.
fn ended(status: Option<std::process::ExitStatus>, stopped: bool, namespaced: bool) -> Ended {
    match status {
        None if stopped => Ended::Stopped,
        None => Ended::Timeout,
        Some(st) => match (st.code(), st.signal()) {
            // Through the namespace's shell, a signal N comes back as status 128 + N.
            (Some(c), _) if namespaced && (129..=192).contains(&c) => Ended::Signal(c - 128),
            (Some(c), _) => Ended::Exited(c),
            (None, Some(sig)) => Ended::Signal(sig),
            (None, None) => Ended::Exited(-1),
        },
    }
}

/// Runs `launch` contained (see the module documentation) and returns what it produced.
/// Errors are twixt's own (the work directory, a tool that cannot start), never the
/// program's: a program that fails is a [`Ran`] with its status.
pub fn run(launch: &Launch) -> Result<Ran, String> {
    run_attached(launch, |_| (After::Wait, ())).map(|(ran, ())| ran)
}

/// [`run`], with `observe` called on this thread once the program has started (its output
/// is drained meanwhile): it may talk to the program through files in the work directory
/// (a debugger's socket) until it is done or [`Attached::deadline`] passes, and says
/// whether to let the program finish or to kill it. The timeout still applies.
pub fn run_attached<T>(
    launch: &Launch,
    observe: impl FnOnce(&mut Attached<'_>) -> (After, T),
) -> Result<(Ran, T), String> {
    let s = support();
    let (work, uid) = prepare(launch, s.root)?;

    let inner = inner_command(launch, &work.0);
    let drop_to = if s.root {
        uid.to_string()
    } else {
        "-".to_string()
    };
    let mut cmd = if s.namespaces.is_ok() {
        let mut c = Command::new("unshare");
        c.args(unshare_args(s.root))
            .args(["sh", "-c", INNER, "twixt-sandbox"])
            .arg(&work.0)
            .arg(&drop_to)
            .arg("--")
            .args(&inner);
        c
    } else {
        let mut all: Vec<OsString> = Vec::new();
        if s.root {
            all.extend(
                [
                    "setpriv".to_string(),
                    format!("--reuid={uid}"),
                    format!("--regid={uid}"),
                    "--clear-groups".to_string(),
                    "--no-new-privs".to_string(),
                    "--".to_string(),
                ]
                .map(OsString::from),
            );
        }
        all.extend(inner);
        let mut c = Command::new(&all[0]);
        c.args(&all[1..]).current_dir(&work.0);
        c
    };
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    tracing::debug!(?cmd, "launching");
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let cap = launch.limits.output_bytes;
    let out = drain(child.stdout.take(), cap);
    let err = drain(child.stderr.take(), cap);

    let deadline = started + launch.timeout;
    let (after, observed) = observe(&mut Attached {
        work: &work.0,
        deadline,
        started,
        child: &mut child,
    });
    let (status, killed, stopped) = wait(&mut child, after, deadline)?;
    let seconds = started.elapsed().as_secs_f64();
    let ended = ended(status, stopped, s.namespaces.is_ok());
    // Whatever is left of the group (a program that exited but left children in its group
    // without a PID namespace) goes too.
    kill_group(child.id());
    let (stdout, t1) = out.join().unwrap_or_default();
    let (stderr_all, t2) = err.join().unwrap_or_default();
    let mut notes = Vec::new();
    let mut stderr = String::with_capacity(stderr_all.len());
    for line in stderr_all.split_inclusive('\n') {
        match line.strip_prefix(NOTE_PREFIX) {
            Some(note) => notes.push(note.trim_end().to_string()),
            None => stderr.push_str(line),
        }
    }
    let mut files = BTreeMap::new();
    for name in &launch.collect {
        if let Ok(bytes) = std::fs::read(work.0.join(name)) {
            files.insert(name.clone(), bytes);
        }
    }
    Ok((
        Ran {
            ended,
            seconds,
            stdout,
            stderr,
            truncated: t1 || t2,
            killed,
            notes,
            files,
        },
        observed,
    ))
}

/// Reads a pipe to its end on a thread, keeping at most `cap` bytes.
fn drain<R: Read + Send + 'static>(
    pipe: Option<R>,
    cap: usize,
) -> std::thread::JoinHandle<(String, bool)> {
    std::thread::spawn(move || {
        let Some(mut pipe) = pipe else {
            return (String::new(), false);
        };
        let mut kept = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let mut truncated = false;
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    truncated |= n > room;
                }
            }
        }
        (String::from_utf8_lossy(&kept).into_owned(), truncated)
    })
}

/// Kills everything the run started; returns how many processes were in its PID namespace
/// (or its process group, without one) just before.
fn kill_all(child: &mut Child) -> usize {
    let pid = child.id();
    let members = sandbox_members(pid);
    kill_group(pid);
    // SIGKILL to unshare: --kill-child sends SIGKILL to the namespace's init, and the
    // kernel then kills every process in the namespace.
    let _ = child.kill();
    let _ = child.wait();
    // Wait (boundedly) until the namespace is empty, so nothing outlives the run.
    let until = Instant::now() + Duration::from_secs(5);
    while !sandbox_members_in(&members.0).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    members.1
}

/// `kill -s KILL -- -PGID` (util-linux or procps `kill`: no unsafe code for `killpg`).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The PID namespace of the sandbox started by `unshare` (its forked child's), and how
/// many processes are in it; without a namespace, the processes of the group `pgid`.
fn sandbox_members(unshare: u32) -> (Option<OsString>, usize) {
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .unwrap_or_default();
    let ns = children
        .split_whitespace()
        .next()
        .and_then(|init| std::fs::read_link(format!("/proc/{init}/ns/pid")).ok())
        .map(PathBuf::into_os_string);
    let own = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(PathBuf::into_os_string);
    match ns.filter(|ns| Some(ns) != own.as_ref()) {
        Some(ns) => {
            let n = sandbox_members_in(&Some(ns.clone())).len();
            (Some(ns), n)
        }
        None => (None, group_members(unshare)),
    }
}

/// Live processes (not zombies) in the PID namespace `ns`.
fn sandbox_members_in(ns: &Option<OsString>) -> Vec<u32> {
    let Some(ns) = ns else { return Vec::new() };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .is_ok_and(|l| l.as_os_str() == ns.as_os_str())
                && !is_zombie(*pid)
        })
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Processes whose process group is `pgid`.
fn group_members(pgid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                // pid (comm) state ppid pgrp ...
                s.rsplit_once(')').is_some_and(|(_, rest)| {
                    rest.split_whitespace().nth(2) == Some(pgid.to_string().as_str())
                })
            })
        })
        .count()
}
