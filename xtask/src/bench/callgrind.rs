//! Callgrind: the command line that counts one case, and the parser of the counts it writes.

use std::path::Path;

use anyhow::{Context, bail};

use crate::plan::Exec;

/// What a callgrind output file says about the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Instructions executed (`Ir`).
    pub instructions: u64,
    /// Cycles estimated from the cache simulation, when it ran.
    pub estimated_cycles: Option<u64>,
}

/// Counts `case` of the bench binary `bin`, writing callgrind's output to `out`. Collection
/// starts off and toggles at the one function measured work runs in, so setup and checks
/// are not counted.
pub fn command(bin: &Path, case: &str, out: &Path) -> Exec {
    // The symbol is `benches::MEASURED_SYMBOL` (crates/benches/src/lib.rs).
    valgrind(
        &["--collect-atstart=no", "--toggle-collect=benches_measured"],
        bin,
        &["--run", case],
        out,
    )
}

/// Callgrind over the whole of `program ARGS`, for the runner's own case, which counts the
/// runner from start to exit.
pub fn whole_program(program: &Path, args: &[&str], out: &Path) -> Exec {
    valgrind(&[], program, args, out)
}

/// The cache simulation is on for the estimated cycles; it roughly doubles callgrind's time.
fn valgrind(options: &[&str], program: &Path, args: &[&str], out: &Path) -> Exec {
    let mut out_file = std::ffi::OsString::from("--callgrind-out-file=");
    out_file.push(out);
    let mut all: Vec<std::ffi::OsString> = vec![
        "-q".into(),
        "--tool=callgrind".into(),
        "--cache-sim=yes".into(),
        out_file,
    ];
    all.extend(options.iter().map(Into::into));
    all.push(program.as_os_str().to_owned());
    all.extend(args.iter().map(Into::into));
    Exec {
        program: "valgrind".into(),
        args: all,
        env: Vec::new(),
        cwd: None,
        mkdirs: out.parent().map(Path::to_path_buf).into_iter().collect(),
    }
}

/// Parses a callgrind output file: the `events:` line names the columns of the `summary:`
/// line (`totals:` in files that have no summary).
///
/// # Errors
/// A file without those lines, or without an `Ir` column.
pub fn parse(text: &str) -> anyhow::Result<Counts> {
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key).map(str::trim))
    };
    let Some(events) = field("events:") else {
        bail!("no `events:` line; is this a callgrind output file?");
    };
    let Some(values) = field("summary:").or_else(|| field("totals:")) else {
        bail!("no `summary:` or `totals:` line; did callgrind finish?");
    };
    let values: Vec<u64> = values
        .split_whitespace()
        .map(|v| v.parse().with_context(|| format!("`{v}` is not a count")))
        .collect::<anyhow::Result<_>>()?;
    // Trailing zero counts may be left out.
    let get = |name: &str| {
        events
            .split_whitespace()
            .position(|e| e == name)
            .map(|i| values.get(i).copied().unwrap_or(0))
    };
    let instructions = get("Ir").context("no `Ir` event in the counts")?;
    let estimated_cycles = (|| {
        let [dr, dw, i1, d1r, d1w, ili, dlr, dlw] =
            ["Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw"].map(get);
        let l1_misses = i1? + d1r? + d1w?;
        let ll_misses = ili? + dlr? + dlw?;
        let l1_hits = (instructions + dr? + dw?).saturating_sub(l1_misses);
        let ll_hits = l1_misses.saturating_sub(ll_misses);
        // The usual weights (as iai-callgrind and gungraun use): an L1 hit costs a cycle,
        // a last-level hit 5, memory 35.
        Some(l1_hits + 5 * ll_hits + 35 * ll_misses)
    })();
    Ok(Counts {
        instructions,
        estimated_cycles,
    })
}

/// Reads and parses the output file at `path`.
///
/// # Errors
/// The file is missing or unreadable, or [`parse`] fails.
pub fn read(path: &Path) -> anyhow::Result<Counts> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading callgrind's output {}", path.display()))?;
    parse(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_come_from_the_summary_line() {
        let text = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) main\n5 10\nsummary: 6574351\ntotals: 6574351\n";
        assert_eq!(
            parse(text).expect("a callgrind file"),
            Counts {
                instructions: 6_574_351,
                estimated_cycles: None
            }
        );
    }

    #[test]
    fn without_a_summary_the_totals_line_counts() {
        let counts = parse("events: Ir\ntotals: 42\n").expect("totals suffice");
        assert_eq!(counts.instructions, 42);
    }

    #[test]
    fn the_cache_simulation_gives_estimated_cycles() {
        let text = "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 1000 300 100 10 20 10 2 3 5\n";
        let counts = parse(text).expect("a callgrind file");
        assert_eq!(counts.instructions, 1000);
        // L1 hits 1400 - 40, LL hits 40 - 10, memory 10.
        assert_eq!(counts.estimated_cycles, Some(1360 + 5 * 30 + 35 * 10));
    }

    #[test]
    fn left_out_trailing_counts_are_zero() {
        let text =
            "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 2583 265 5 3 255 0 3\n";
        let counts = parse(text).expect("a callgrind file");
        assert_eq!(
            counts.estimated_cycles,
            Some((2853 - 258) + 5 * 255 + 35 * 3)
        );
    }

    #[test]
    fn a_file_without_counts_is_refused_with_the_reason() {
        let err = parse("events: Ir\nfn=main\n").unwrap_err().to_string();
        assert!(err.contains("no `summary:` or `totals:` line"), "{err}");
        let err = parse("summary: 1\n").unwrap_err().to_string();
        assert!(err.contains("no `events:` line"), "{err}");
        let err = parse("events: Dr\nsummary: 1\n").unwrap_err().to_string();
        assert!(err.contains("no `Ir` event"), "{err}");
    }

    #[test]
    fn a_case_is_counted_from_its_measured_function_on() {
        let exec = command(Path::new("/b/nri"), "nri/mux-4mib", Path::new("/o/cg.out"));
        assert_eq!(
            exec.to_string(),
            "mkdir -p /o && valgrind -q --tool=callgrind --cache-sim=yes --callgrind-out-file=/o/cg.out \
             --collect-atstart=no --toggle-collect=benches_measured /b/nri --run nri/mux-4mib"
        );
    }
}
