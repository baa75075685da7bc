//! The environment a run was trained in: cerebro version, OS, host, user, and the git state
//! of the workspace (commit, branch, dirty flag), recorded with every run; and the cores this
//! process may use.

use std::path::Path;
use std::process::Command;

use crate::store::{Environment, host_name};

/// Captures the environment for a run in workspace folder `dir`.
pub fn capture(dir: &Path, config_hash: &str, seed: u64) -> Environment {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let git_commit = git(&["rev-parse", "HEAD"]);
    let (git_branch, git_dirty) = if git_commit.is_some() {
        (
            git(&["rev-parse", "--abbrev-ref", "HEAD"]),
            git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
        )
    } else {
        (None, None)
    };
    Environment {
        cerebro_version: env!("CARGO_PKG_VERSION").to_string(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        host: host_name(),
        user: user_name(),
        git_commit,
        git_branch,
        git_dirty,
        config_hash: config_hash.to_string(),
        seed,
    }
}

/// The OS user running cerebro.
pub fn user_name() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    // SAFETY: getuid has no preconditions; getpwuid_r writes only into the buffers we own and
    // sets `result` to null or to `pwd`, whose `pw_name` then points into `buf`.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 1024];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !pwd.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid:{uid}")
    }
}

/// Number of cores available to this process (`std::thread::available_parallelism`, 1 when it
/// cannot be read): the default number of jobs at once and the threads a fit may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
