//! Command-line parsing, by hand (no dependency needed for a dozen flags).
//! Every mistake becomes one message saying what is wrong and what to do.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: bpe-encode --threads N --corpus FILE --vocab DIR [options]

Encodes every line of FILE with GPT-2's byte-level BPE (DIR holds encoder.json
and vocab.bpe), in batches, on N worker threads, and reports the throughput.

options:
  --threads N       worker threads (required, >= 1)
  --corpus FILE     text file, one item per line (required)
  --vocab DIR       directory with encoder.json and vocab.bpe (required)
  --batch-size B    items per batch (default 1000)
  --iterations K    timed passes over the corpus (default 1)
  --duration S      instead: encode batches, cycling through the corpus,
                    for S seconds (checked after each batch)
  --warmup K        untimed passes before timing (default 0)
  --contend N       after each item, N atomic adds on one shared counter
                    (default 0): deliberate contention, for testing
                    regression detection
  --window W        items per claimed window (window variant only; default
                    ceil(batch / (threads * 4)) clamped to 1..=8)
  --dump-ids FILE   write the ids of the first pass, one line per item
  --json            print one line of JSON instead of a human summary
  -h, --help        show this help";

/// How long the timed region runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Iterations(usize),
    Duration(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub threads: usize,
    pub corpus: PathBuf,
    pub vocab: PathBuf,
    pub batch_size: usize,
    pub mode: Mode,
    pub warmup: usize,
    pub window: Option<usize>,
    pub contend: usize,
    pub dump_ids: Option<PathBuf>,
    pub json: bool,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Config),
    Help,
}

/// Upper bound on --threads: far above any real machine, low enough that a
/// typo (e.g. 10000000) is reported instead of exhausting the OS.
const MAX_THREADS: usize = 4096;

fn whole(flag: &str, v: &str, min: usize) -> Result<usize, String> {
    let n: usize =
        v.parse().map_err(|_| format!("{flag} expects a whole number, got {v:?}; e.g. {flag} {}", min.max(1)))?;
    if n < min {
        return Err(format!("{flag} must be at least {min}, got {n}"));
    }
    Ok(n)
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Parsed, String> {
    let mut threads = None;
    let mut corpus = None;
    let mut vocab = None;
    let mut batch_size = None;
    let mut iterations = None;
    let mut duration = None;
    let mut warmup = None;
    let mut window = None;
    let mut contend = None;
    let mut dump_ids = None;
    let mut json = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str().map(str::to_owned) else {
            return Err(format!("unexpected argument {arg:?}; run bpe-encode --help for usage"));
        };
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(OsString::from(v))),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" => {
                if inline.is_some() {
                    return Err("--json takes no value".to_string());
                }
                json = true;
                continue;
            }
            "--threads" | "--corpus" | "--vocab" | "--batch-size" | "--iterations" | "--duration" | "--warmup"
            | "--window" | "--contend" | "--dump-ids" => {}
            _ if flag.starts_with('-') => {
                return Err(format!("unknown option {flag:?}; run bpe-encode --help for the list of options"))
            }
            _ => return Err(format!("unexpected argument {arg:?}; options start with --, see bpe-encode --help")),
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value; see bpe-encode --help")),
        };
        let text =
            || value.to_str().map(str::to_owned).ok_or_else(|| format!("{flag} expects a number, got {value:?}"));
        let twice = || format!("{flag} is given twice; give it once");
        match flag.as_str() {
            "--threads" => {
                let n = whole(&flag, &text()?, 1)?;
                if n > MAX_THREADS {
                    return Err(format!("--threads {n} is more than {MAX_THREADS}; use fewer threads"));
                }
                threads.replace(n).map_or(Ok(()), |_| Err(twice()))?;
            }
            "--corpus" => corpus.replace(PathBuf::from(&value)).map_or(Ok(()), |_| Err(twice()))?,
            "--vocab" => vocab.replace(PathBuf::from(&value)).map_or(Ok(()), |_| Err(twice()))?,
            "--dump-ids" => dump_ids.replace(PathBuf::from(&value)).map_or(Ok(()), |_| Err(twice()))?,
            "--batch-size" => batch_size.replace(whole(&flag, &text()?, 1)?).map_or(Ok(()), |_| Err(twice()))?,
            "--iterations" => iterations.replace(whole(&flag, &text()?, 1)?).map_or(Ok(()), |_| Err(twice()))?,
            "--warmup" => warmup.replace(whole(&flag, &text()?, 0)?).map_or(Ok(()), |_| Err(twice()))?,
            "--window" => window.replace(whole(&flag, &text()?, 1)?).map_or(Ok(()), |_| Err(twice()))?,
            "--contend" => contend.replace(whole(&flag, &text()?, 0)?).map_or(Ok(()), |_| Err(twice()))?,
            "--duration" => {
                let v = text()?;
                let s: f64 = v.parse().map_err(|_| format!("--duration expects seconds (e.g. 2.5), got {v:?}"))?;
                if !(s.is_finite() && s > 0.0) {
                    return Err(format!("--duration must be a positive number of seconds, got {v:?}"));
                }
                duration.replace(s).map_or(Ok(()), |_| Err(twice()))?;
            }
            _ => unreachable!("flag list above"),
        }
    }

    let threads = threads.ok_or("--threads N is required (the number of worker threads, e.g. --threads 8)")?;
    let corpus = corpus.ok_or("--corpus FILE is required (a text file, one item per line)")?;
    let vocab = vocab.ok_or("--vocab DIR is required (the directory with encoder.json and vocab.bpe)")?;
    let mode = match (iterations, duration) {
        (Some(_), Some(_)) => {
            return Err("--iterations and --duration exclude each other; give one of them".to_string())
        }
        (_, Some(s)) => Mode::Duration(s),
        (k, None) => Mode::Iterations(k.unwrap_or(1)),
    };
    Ok(Parsed::Run(Config {
        threads,
        corpus,
        vocab,
        batch_size: batch_size.unwrap_or(1000),
        mode,
        warmup: warmup.unwrap_or(0),
        window,
        contend: contend.unwrap_or(0),
        dump_ids,
        json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &str) -> Result<Parsed, String> {
        parse(args.split_whitespace().map(OsString::from))
    }

    fn cfg(args: &str) -> Config {
        match p(args) {
            Ok(Parsed::Run(c)) => c,
            other => panic!("{args}: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_values() {
        let c = cfg("--threads 4 --corpus c.txt --vocab v");
        assert_eq!(c.threads, 4);
        assert_eq!(c.batch_size, 1000);
        assert_eq!(c.mode, Mode::Iterations(1));
        assert_eq!(c.warmup, 0);
        assert_eq!(c.window, None);
        assert!(!c.json);
        let c = cfg("--threads=2 --corpus=c --vocab v --duration 0.5 --warmup 1 --window 3 --json --dump-ids d");
        assert_eq!(c.mode, Mode::Duration(0.5));
        assert_eq!((c.warmup, c.window, c.json), (1, Some(3), true));
        assert_eq!(c.dump_ids, Some(PathBuf::from("d")));
        assert_eq!(p("--help"), Ok(Parsed::Help));
    }

    #[test]
    fn mistakes_are_reported() {
        let err = |a: &str| p(a).unwrap_err();
        assert!(err("--threads 0 --corpus c --vocab v").contains("at least 1"));
        assert!(err("--threads x --corpus c --vocab v").contains("whole number"));
        assert!(err("--threads 2 --corpus c --vocab v --bogus").contains("unknown option"));
        assert!(err("--corpus c --vocab v").contains("--threads N is required"));
        assert!(err("--threads 2 --vocab v").contains("--corpus FILE is required"));
        assert!(err("--threads 2 --corpus c").contains("--vocab DIR is required"));
        assert!(err("--threads 2 --corpus c --vocab v --iterations 2 --duration 1").contains("exclude"));
        assert!(err("--threads 2 --corpus c --vocab v --duration -1").contains("positive"));
        assert!(err("--threads 2 --corpus c --vocab v --duration nan").contains("positive"));
        assert!(err("--threads 2 --corpus c --vocab v --threads 3").contains("twice"));
        assert!(err("--threads 2 --corpus c --vocab").contains("needs a value"));
        assert!(err("--threads 2 --corpus c --vocab v extra").contains("unexpected argument"));
        assert!(err("--threads 2 --corpus c --vocab v --batch-size 0").contains("at least 1"));
        for e in [err("--threads 0"), err("--x"), err("")] {
            assert!(!e.contains('\n'));
        }
    }
}
