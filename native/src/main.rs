//! bpe-encode: a faithful, self-contained reimplementation of Hugging Face
//! tokenizers' batch encoder for GPT-2 byte-level BPE, used by lseprof as a
//! realistic parallel workload. Two builds differ only in the scheduler:
//! `rayon` (upstream's shape) and `window` (claimed windows, one atomic each).

#[cfg(all(feature = "rayon", feature = "window"))]
compile_error!("features `rayon` and `window` exclude each other: build with exactly one of them");
#[cfg(not(any(feature = "rayon", feature = "window")))]
compile_error!("choose a scheduler: build with `--features rayon` or `--features window`");

mod bpe;
mod cache;
mod cli;
mod corpus;
mod encoder;
mod pretok;
mod region;
mod run;
#[cfg(feature = "rayon")]
mod sched_rayon;
#[cfg(feature = "window")]
mod sched_window;
mod vocab;

use std::io::Write;

const VARIANT: &str = if cfg!(feature = "rayon") { "rayon" } else { "window" };

/// What `lseprof build` called this build (host, aarch64, aarch64-lse).
fn build_target() -> &'static str {
    match option_env!("LSEPROF_TARGET") {
        Some(t) if !t.is_empty() => t,
        _ => "host",
    }
}

/// How atomic read-modify-writes are compiled into this binary.
fn atomics() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        if cfg!(target_feature = "lse") {
            "lse" // inline LSE instructions (ldadd, cas, swp)
        } else {
            "outline" // calls to __aarch64_* helpers that pick LSE or LL/SC at run time
        }
    } else {
        "native"
    }
}

fn main() {
    let code = match real_main() {
        Ok(()) => 0,
        Err(msg) => {
            let _ = writeln!(std::io::stderr(), "bpe-encode: error: {msg}");
            2
        }
    };
    std::process::exit(code);
}

fn real_main() -> Result<(), String> {
    let cfg = match cli::parse(std::env::args_os().skip(1))? {
        cli::Parsed::Help => {
            println!("{}", cli::USAGE);
            return Ok(());
        }
        cli::Parsed::Run(c) => c,
    };
    let vocab = vocab::Vocab::load(&cfg.vocab)?;
    let pretok = pretok::PreTokenizer::new()?;
    let corpus = corpus::Corpus::load(&cfg.corpus)?;
    let items = corpus.items();
    let corpus_name = cfg.corpus.display().to_string();
    let mut enc = encoder::Encoder::new(vocab, pretok, cfg.threads);
    enc.contend = cfg.contend;
    // The profiler's region (its FIFOs, if it asked): connected before any work, so a
    // wrong setting fails fast; enabled and disabled around the timed loop (run.rs).
    let mut region = region::Region::from_env()?;

    #[cfg(feature = "rayon")]
    let (summary, window) = {
        sched_rayon::init_global_pool(cfg.threads)?;
        let s = run::run(&cfg, &corpus_name, &items, &mut region, |b| sched_rayon::encode_batch(&mut enc, b))?;
        (s, None::<usize>)
    };
    #[cfg(feature = "window")]
    let (summary, window) = {
        let s = sched_window::Pool::scope(cfg.threads, |pool| {
            if pool.threads() < cfg.threads {
                return Err(format!(
                    "could only start {} of {} worker threads; lower --threads or raise the process limits",
                    pool.threads(),
                    cfg.threads
                ));
            }
            run::run(&cfg, &corpus_name, &items, &mut region, |b| {
                sched_window::encode_batch(pool, &mut enc, b, cfg.window)
            })
        })?;
        let full = cfg.batch_size.min(items.len());
        (s, Some(cfg.window.unwrap_or_else(|| sched_window::window_size(full, cfg.threads))))
    };

    let mib_per_s = if summary.seconds > 0.0 { summary.bytes as f64 / 1048576.0 / summary.seconds } else { 0.0 };
    let checksum = format!("{:016x}", summary.ids_fnv1a64);
    let line = if cfg.json {
        let (mode, limit) = match cfg.mode {
            cli::Mode::Iterations(k) => ("iterations", serde_json::json!(k)),
            cli::Mode::Duration(s) => ("duration", serde_json::json!(s)),
        };
        serde_json::json!({
            "variant": VARIANT,
            "target": build_target(),
            "atomics": atomics(),
            "threads": cfg.threads,
            "items": summary.items,
            "bytes": summary.bytes,
            "tokens": summary.tokens,
            "seconds": summary.seconds,
            "mib_per_s": mib_per_s,
            "ids_fnv1a64": checksum,
            "batch_size": cfg.batch_size,
            "window": window,
            "batches": summary.batches,
            "passes": summary.passes,
            "warmup": cfg.warmup,
            "contend": cfg.contend,
            "mode": mode,
            "mode_value": limit,
            "corpus_items": items.len(),
        })
        .to_string()
    } else {
        format!(
            "bpe-encode {VARIANT} ({} build, {} atomics): {} threads, {} items, {:.2} MiB, {} tokens in {:.3} s = {:.2} MiB/s; ids fnv1a64 {checksum}",
            build_target(),
            atomics(),
            cfg.threads,
            summary.items,
            summary.bytes as f64 / 1048576.0,
            summary.tokens,
            summary.seconds,
            mib_per_s,
        )
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| format!("cannot write to stdout: {e}"))
}
