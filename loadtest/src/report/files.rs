//! Result files on disk: `<scenario>.<git_sha>.<timestamp>.{json,html,md}`, named so that runs of
//! one scenario sort together and by time, and so `compare` can read any two of them back.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::result::RunResult;

/// Where [`write_all`] put the three files of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub json: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
}

/// Writes the JSON result, the HTML report and the markdown summary into `dir` (created if missing).
pub fn write_all(result: &RunResult, dir: &Path) -> anyhow::Result<Written> {
    // Render everything first so a rendering error leaves no partial set of files behind.
    let mut json = serde_json::to_string_pretty(result).context("serializing the run result")?;
    json.push('\n');
    let html = super::html(result).context("rendering the HTML report")?;
    let markdown = super::markdown(result);

    fs::create_dir_all(dir).with_context(|| format!("creating report directory {}", dir.display()))?;
    let stem = file_stem(result);
    let written = Written {
        json: dir.join(format!("{stem}.json")),
        html: dir.join(format!("{stem}.html")),
        markdown: dir.join(format!("{stem}.md")),
    };
    for (path, body) in [(&written.json, &json), (&written.html, &html), (&written.markdown, &markdown)] {
        fs::write(path, body).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(written)
}

/// Reads a result written by [`write_all`]; errors name the file (and the line/column if it does not parse).
pub fn read_result(path: &Path) -> anyhow::Result<RunResult> {
    let text = fs::read_to_string(path).with_context(|| format!("reading run result {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid run result", path.display()))
}

/// `<scenario>.<git_sha>.<timestamp>` with each part reduced to filename-safe characters.
pub fn file_stem(result: &RunResult) -> String {
    format!("{}.{}.{}", safe(&result.scenario), safe(&result.git_sha), timestamp(&result.started_at))
}

/// Keeps `[A-Za-z0-9_-]`, maps anything else (path separators, dots, spaces) to '_'.
fn safe(part: &str) -> String {
    let s: String =
        part.chars().take(80).map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if s.is_empty() {
        "unknown".to_string()
    } else {
        s
    }
}

/// RFC 3339 to a compact stamp: "2026-11-21T09:15:00Z" -> "20261121T091500Z".
/// Fractional seconds are dropped; offsets keep their sign as 'p'/'m' ("+01:00" -> "p0100").
fn timestamp(started_at: &str) -> String {
    let mut out = String::new();
    let mut in_fraction = false;
    let mut seen_t = false;
    for c in started_at.chars().take(64) {
        if in_fraction && c.is_ascii_digit() {
            continue;
        }
        in_fraction = false;
        match c {
            'T' | 't' => {
                seen_t = true;
                out.push('T');
            }
            '.' => in_fraction = true,
            '+' => out.push('p'),
            '-' if seen_t => out.push('m'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    if out.is_empty() {
        "unknown".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{failed_sample, sample};

    #[test]
    fn timestamp_is_compact() {
        assert_eq!(timestamp("2026-11-21T09:15:00Z"), "20261121T091500Z");
        assert_eq!(timestamp("2026-11-21T09:15:00.123456Z"), "20261121T091500Z");
        assert_eq!(timestamp("2026-11-21T09:15:00+01:00"), "20261121T091500p0100");
        assert_eq!(timestamp("2026-11-21T09:15:00-05:00"), "20261121T091500m0500");
        assert_eq!(timestamp("../../x1"), "x1");
        assert_eq!(timestamp(""), "unknown");
    }

    #[test]
    fn stem_is_filename_safe() {
        let mut r = sample();
        assert_eq!(file_stem(&r), "steady-10.abc1234.20261121T091500Z");
        r.scenario = "../a/b c".to_string();
        r.git_sha = String::new();
        assert_eq!(file_stem(&r), "___a_b_c.unknown.20261121T091500Z");
    }

    #[test]
    fn writes_three_files_and_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("reports");
        let r = failed_sample();
        let w = write_all(&r, &dir).unwrap();
        let stem = "steady-10.abc1234.20261121T091500Z";
        assert_eq!(w.json, dir.join(format!("{stem}.json")));
        assert_eq!(w.html, dir.join(format!("{stem}.html")));
        assert_eq!(w.markdown, dir.join(format!("{stem}.md")));
        let mut names: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, [format!("{stem}.html"), format!("{stem}.json"), format!("{stem}.md")]);
        assert!(fs::read_to_string(&w.html).unwrap().contains("<svg"));
        assert!(fs::read_to_string(&w.markdown).unwrap().contains("Audit: **FAILED**"));
        assert_eq!(read_result(&w.json).unwrap(), r);
    }

    #[test]
    fn write_error_names_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-dir");
        fs::write(&file, "x").unwrap();
        let err = write_all(&sample(), &file.join("sub")).unwrap_err();
        assert!(format!("{err:#}").contains("not-a-dir"), "{err:#}");
    }

    #[test]
    fn garbage_and_missing_files_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let garbage = tmp.path().join("garbage.json");
        fs::write(&garbage, "{\"scenario\": \"x\",\n  oops").unwrap();
        let err = format!("{:#}", read_result(&garbage).unwrap_err());
        assert!(err.contains("garbage.json") && err.contains("not a valid run result"), "{err}");
        assert!(err.contains("line 2"), "{err}");

        let wrong_shape = tmp.path().join("other.json");
        fs::write(&wrong_shape, "{\"scenario\": \"x\"}").unwrap();
        let err = format!("{:#}", read_result(&wrong_shape).unwrap_err());
        assert!(err.contains("other.json") && err.contains("missing field"), "{err}");

        let missing = tmp.path().join("missing.json");
        let err = format!("{:#}", read_result(&missing).unwrap_err());
        assert!(err.contains("missing.json"), "{err}");
    }
}
