//! How the process gives memory back. Each argon2 password check (a login, a client secret)
//! allocates its 19 MiB working memory and frees it. glibc's malloc serves blocks that large
//! by `mmap` and returns them at `free` — until the first such `free`, which raises its
//! dynamic mmap threshold above 19 MiB, after which every later one comes from a malloc arena
//! and stays there: one more 19 MiB in the resident set for each arena a blocking thread
//! happens to use (measured: +19 MiB steps up to 300 MiB in ten minutes of logins, flat at
//! 22 MiB with the threshold fixed). Fixing the threshold keeps large blocks on `mmap`.

/// Large blocks (1 MiB and more) always `mmap`ed, so freeing one returns it to the system.
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Fixes glibc's mmap threshold (setting it turns the dynamic adjustment off); call once,
/// before the runtime starts. Other C libraries manage their own memory: nothing to do.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets a malloc parameter; it is called before any other
        // thread exists, and `M_MMAP_THRESHOLD` takes a byte count.
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if set != 1 {
            eprintln!(
                "warning: cannot set malloc's mmap threshold; memory freed by password checks may stay resident"
            );
        }
    }
}
