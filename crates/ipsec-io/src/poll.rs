//! Waiting for one of several descriptors to become readable (`poll(2)`).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Most descriptors [`wait_readable`] watches.
pub const MAX_FDS: usize = 8;

/// Blocks until one of `fds` is readable or `timeout` passes; returns a
/// bit mask of the readable ones (bit i for `fds[i]`), 0 on timeout.
pub fn wait_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<u32> {
    let n = fds.len().min(MAX_FDS);
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_FDS];
    for (p, &fd) in pfds.iter_mut().zip(&fds[..n]) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    loop {
        // SAFETY: `pfds[..n]` is a valid array of pollfd for the call.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut mask = 0;
        for (i, p) in pfds[..n].iter().enumerate() {
            if p.revents != 0 {
                mask |= 1 << i;
            }
        }
        return Ok(mask);
    }
}
