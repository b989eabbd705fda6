//! The values the workspace's binaries take on their command lines and in their
//! environment: durations (`10s`, `500ms`, `2m`, `1h`) and sizes (`256MiB`, `10MB`), parsed
//! in one place so every binary accepts the same forms and says the same thing about a
//! bad one. Each parser has clap's `value_parser` shape.
//!
//! ```
//! use std::time::Duration;
//!
//! assert_eq!(cli_units::parse_duration("500ms"), Ok(Duration::from_millis(500)));
//! assert_eq!(cli_units::parse_size("256MiB"), Ok(256 << 20));
//! assert!(cli_units::parse_duration("5 days").is_err());
//! ```

#![warn(missing_docs)]

use std::time::Duration;

/// `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds; at least 1 ms.
///
/// # Errors
/// A message naming the text and the units it takes, for clap to print.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (value, unit) = split_number(text)?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    let duration = Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))?;
    if duration < Duration::from_millis(1) {
        return Err(format!("{text:?} is too short: at least 1ms"));
    }
    Ok(duration)
}

/// `256MiB`, `1GiB`, `64KiB`, `10MB`, or a bare number of bytes; at least 1.
///
/// # Errors
/// A message naming the text and the units it takes, for clap to print.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (value, unit) = split_number(text)?;
    let factor: f64 = match unit {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    let bytes = value * factor;
    if !(1.0..=9.0e18).contains(&bytes) {
        return Err(format!("{text:?} is out of range: at least 1 byte"));
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range checked above"
    )]
    Ok(bytes as u64)
}

/// A leading non-negative decimal number and the unit after it.
fn split_number(text: &str) -> Result<(f64, &str), String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    Ok((value, unit.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "ten", "5d", "0", "0.0001s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("256MiB"), Ok(256 * 1024 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "0", "MiB", "1TiB", "-5", "0.5"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
