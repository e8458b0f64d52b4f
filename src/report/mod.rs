//! Every report a run writes: the dropout ablation's (`ablation`: report.md, report.json and
//! pictures), a recipe run's (`recipes`: recipes.md, recipes.json), a robustness run's
//! (`robustness`: robustness.md, .json, .svg), the data tables both training reports share
//! (`data`: clips per class, figures per corpus), the pictures (`plot`), the picture of one clip's
//! explanation (`explanation`), and `ser listen`'s timeline (`timeline`).

pub mod ablation;
pub mod data;
pub mod explanation;
pub mod plot;
pub mod recipes;
pub mod robustness;
pub mod timeline;

/// UTC time as `YYYY-MM-DD_HH-MM-SS`, for run folder names.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}_{:02}-{:02}-{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}
