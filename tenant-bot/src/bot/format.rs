//! Small pieces of text the screens share: data sizes, the usage bar, a service's name.

use shared::i18n::{persian_digits, Arg, Catalog, Locale};

use crate::plans::Plan;
use crate::services::{Service, Status};

const MIB: i64 = 1024 * 1024;
const GIB: i64 = 1024 * MIB;
/// Cells of the usage bar.
const BAR_CELLS: i64 = 10;

/// A data size for people: "5 GB", "1.5 GB", "300 MB" (Persian digits for fa).
pub fn size(t: &Catalog, locale: Locale, bytes: i64) -> String {
    let bytes = bytes.max(0);
    if bytes >= GIB {
        // One decimal, without a trailing ".0".
        let tenths = (bytes as i128 * 10 + GIB as i128 / 2) / GIB as i128;
        let (whole, tenth) = (tenths / 10, tenths % 10);
        let amount = match (tenth, locale) {
            (0, _) => whole.to_string(),
            (_, Locale::Fa) => format!("{whole}٫{tenth}"),
            (_, Locale::En) => format!("{whole}.{tenth}"),
        };
        let amount = match locale {
            Locale::Fa => persian_digits(&amount),
            Locale::En => amount,
        };
        t.text(locale, "size_gb", &[("amount", Arg::Text(&amount))])
    } else {
        let mb = (bytes + MIB / 2) / MIB;
        t.text(locale, "size_mb", &[("amount", Arg::Number(mb))])
    }
}

/// A plan's data, or "unlimited".
pub fn data(t: &Catalog, locale: Locale, bytes: Option<i64>) -> String {
    match bytes {
        Some(b) => size(t, locale, b),
        None => t.text(locale, "data_unlimited", &[]),
    }
}

/// A bar of used data: "▰▰▰▱▱▱▱▱▱▱" is 30% used.
pub fn usage_bar(used: i64, limit: i64) -> String {
    let filled = if limit <= 0 {
        BAR_CELLS
    } else {
        let ratio = (used.max(0) as i128 * BAR_CELLS as i128 + limit as i128 - 1) / limit as i128;
        (ratio as i64).clamp(0, BAR_CELLS)
    };
    let mut bar = "▰".repeat(filled as usize);
    bar.push_str(&"▱".repeat((BAR_CELLS - filled) as usize));
    bar
}

/// What a service is called: its plan's name, "Free trial", or the account name.
pub fn service_name(t: &Catalog, locale: Locale, service: &Service, plan: Option<&Plan>) -> String {
    if service.is_trial {
        return t.text(locale, "service_trial_name", &[]);
    }
    match plan {
        Some(plan) => plan.name(locale).to_string(),
        None => service.username.clone(),
    }
}

pub fn status(t: &Catalog, locale: Locale, status: Status) -> String {
    let key = match status {
        Status::Active => "status.active",
        Status::Disabled => "status.disabled",
        Status::Limited => "status.limited",
        Status::Expired => "status.expired",
        Status::OnHold => "status.on_hold",
        Status::Deleted => "status.deleted",
    };
    t.text(locale, key, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        crate::texts::catalog().unwrap()
    }

    #[test]
    fn sizes_read_naturally_in_both_languages() {
        let t = catalog();
        assert_eq!(size(&t, Locale::En, 5 * GIB), "5 GB");
        assert_eq!(size(&t, Locale::En, 3 * GIB / 2), "1.5 GB");
        assert_eq!(size(&t, Locale::En, 300 * MIB), "300 MB");
        assert_eq!(size(&t, Locale::Fa, 3 * GIB / 2), "۱٫۵ گیگابایت");
        assert_eq!(data(&t, Locale::En, None), "Unlimited");
    }

    #[test]
    fn the_bar_fills_with_use_and_never_overflows() {
        assert_eq!(usage_bar(0, 100), "▱▱▱▱▱▱▱▱▱▱");
        assert_eq!(usage_bar(30, 100), "▰▰▰▱▱▱▱▱▱▱");
        assert_eq!(usage_bar(1, 100), "▰▱▱▱▱▱▱▱▱▱");
        assert_eq!(usage_bar(500, 100), "▰▰▰▰▰▰▰▰▰▰");
    }
}
