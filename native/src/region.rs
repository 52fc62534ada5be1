//! The measured region, signalled to the profiler: lseprof's region protocol
//! (docs/time.md), which is perf's own control-FIFO protocol
//! (`perf record -D -1 --control fifo:CTL,ACK`).
//!
//! A profiler that wants the region only sets `LSEPROF_REGION_CTL` and
//! `LSEPROF_REGION_ACK` to two FIFOs. The program writes `enable\n` to the
//! first when its measured region begins and `disable\n` when it ends, and after
//! each reads the line `ack` from the second: then the profiler's events are on
//! (off). Without the variables every call does nothing.
//!
//! This file depends on the standard library only: copy it into another Rust
//! program as it is (`mod region;`), then
//! `let mut r = region::Region::from_env()?; r.enable()?; work(); r.disable()?;`.

use std::env;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};

/// The command FIFO (written by the program).
pub const CTL_ENV: &str = "LSEPROF_REGION_CTL";
/// The answer FIFO (read by the program).
pub const ACK_ENV: &str = "LSEPROF_REGION_ACK";

/// The connection to the profiler, if the program runs under one that asked.
pub struct Region {
    fifos: Option<(File, BufReader<File>, String)>,
}

impl Region {
    /// No profiler: `enable` and `disable` do nothing.
    #[allow(dead_code)] // the tests and programs without a profiler use it
    pub fn none() -> Region {
        Region { fifos: None }
    }

    /// Connects to the FIFOs named by the environment, if both are set.
    pub fn from_env() -> Result<Region, String> {
        match (env::var_os(CTL_ENV), env::var_os(ACK_ENV)) {
            (Some(ctl), Some(ack)) if !ctl.is_empty() && !ack.is_empty() => {
                let name = ctl.to_string_lossy().into_owned();
                let open_err = |what: &str, path: &std::ffi::OsStr, e: std::io::Error| {
                    format!(
                        "cannot open the region {what} FIFO {} ({e}); run under `lseprof run` or unset {CTL_ENV} and {ACK_ENV}",
                        path.to_string_lossy()
                    )
                };
                // The command FIFO first, then the answer FIFO: the order the
                // profiler opens its ends in (each open waits for the other side).
                let out = OpenOptions::new().write(true).open(&ctl).map_err(|e| open_err("command", &ctl, e))?;
                let inp = File::open(&ack).map_err(|e| open_err("answer", &ack, e))?;
                Ok(Region { fifos: Some((out, BufReader::new(inp), name)) })
            }
            _ => Ok(Region::none()),
        }
    }

    /// The measured region begins: returns once the profiler records.
    pub fn enable(&mut self) -> Result<(), String> {
        self.send("enable")
    }

    /// The measured region ends: returns once the profiler has stopped recording.
    pub fn disable(&mut self) -> Result<(), String> {
        self.send("disable")
    }

    fn send(&mut self, command: &str) -> Result<(), String> {
        let Some((out, inp, name)) = &mut self.fifos else {
            return Ok(());
        };
        let fail = |e: String| format!("region {command} through {name} failed ({e}); is the profiler still running?");
        out.write_all(format!("{command}\n").as_bytes()).map_err(|e| fail(e.to_string()))?;
        let mut answer = String::new();
        inp.read_line(&mut answer).map_err(|e| fail(e.to_string()))?;
        // perf itself sends a NUL after "ack\n": it starts the next answer.
        let answer = answer.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if answer != "ack" {
            return Err(fail(format!("answer {answer:?}, not \"ack\"")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_profiler_nothing_happens() {
        let mut r = Region::none();
        assert!(r.enable().is_ok() && r.disable().is_ok());
    }
}
