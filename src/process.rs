//! Child processes cerebro starts and must be able to stop completely: pipeline steps and alert
//! hooks. Each is started as the leader of its own process group, so that killing the group
//! also kills whatever it started (a hook script's `curl`, a step's workers), which killing the
//! child alone would leave running, re-parented to init.

use std::process::Command;

/// Makes `cmd` start as the leader of a new process group (Unix; elsewhere a no-op).
pub fn own_group(cmd: &mut Command) -> &mut Command {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd
}

/// Kills the group led by `pid` (see [`kill_group`]) and waits, at most `wait`, until none of
/// its processes is left, dead-but-unreaped ones included (their new parent, init, reaps
/// them). True when the group is gone.
pub fn kill_group_and_wait(pid: u32, wait: std::time::Duration) -> bool {
    kill_group(pid);
    let end = std::time::Instant::now() + wait;
    loop {
        if !group_exists(pid) {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether any process (a zombie included) is left in the group led by `pid`.
pub fn group_exists(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 1 {
            return false;
        }
        // Reap the members that are our own children; the others are init's to reap.
        // SAFETY: waitpid on our group id with WNOHANG never blocks; kill with signal 0 only
        // checks for existence.
        unsafe {
            while libc::waitpid(-pid, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            libc::kill(-pid, 0) == 0
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Kills (SIGKILL) the process group led by `pid`, started with [`own_group`]. A group that is
/// already gone is not an error.
pub fn kill_group(pid: u32) {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return;
        };
        if pid <= 1 {
            return;
        }
        // SAFETY: plain syscall on a group id we started; a gone group yields ESRCH, ignored.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}
