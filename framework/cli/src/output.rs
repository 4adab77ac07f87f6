//! Standard output that a closed pipe cannot crash.
//!
//! `cairn status | head -3` closes stdout early; std's `println!` then panics with "failed printing to stdout:
//! Broken pipe" and a backtrace. The crate root declares this module first with `#[macro_use]`, so the
//! `println!` below shadows std's in every command: a closed stdout ends the process quietly with status 0 (the
//! reader has what it wanted), any other write error with status 1 and a message on stderr.

use std::io::Write;

/// `println!` that handles a closed stdout; see the module docs.
macro_rules! println {
    () => {
        $crate::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout and flushes it (progress lines must show at once).
pub fn write_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let result = out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}
