//! [`super`] on Unix: `gethostname`, `strerror` through std, the FHS
//! directories.

use std::path::PathBuf;

pub fn node_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname NUL-terminates
    // or truncates within that length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

pub fn errno_message(errno: i32) -> String {
    let message = std::io::Error::from_raw_os_error(errno).to_string();
    // Drop the " (os error N)" tail: callers print the errno once.
    match message.rfind(" (os error") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

pub fn default_config_dir() -> PathBuf {
    PathBuf::from("/etc/ipkit")
}

pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/ipkit")
}
