//! The tenant bot's default texts, compiled in from `templates/bot/tenant/`: one pair of files
//! (fa, en) per area of the bot, merged into one catalog.

use shared::i18n::{Catalog, I18nError, Locale};

/// (area, fa source, en source).
const AREAS: &[(&str, &str, &str)] = &[
    (
        "main",
        include_str!("../../templates/bot/tenant/fa.toml"),
        include_str!("../../templates/bot/tenant/en.toml"),
    ),
    (
        "shop",
        include_str!("../../templates/bot/tenant/shop.fa.toml"),
        include_str!("../../templates/bot/tenant/shop.en.toml"),
    ),
    (
        "payments",
        include_str!("../../templates/bot/tenant/payments.fa.toml"),
        include_str!("../../templates/bot/tenant/payments.en.toml"),
    ),
    (
        "setup",
        include_str!("../../templates/bot/tenant/setup.fa.toml"),
        include_str!("../../templates/bot/tenant/setup.en.toml"),
    ),
];

pub fn catalog() -> Result<Catalog, I18nError> {
    let mut sources = Vec::with_capacity(AREAS.len() * 2);
    for (_, fa, en) in AREAS {
        sources.push((Locale::Fa, *fa));
        sources.push((Locale::En, *en));
    }
    let catalog = Catalog::from_sources(&sources)?;
    catalog.check_consistency()?;
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_texts_parse_and_agree_across_languages() {
        super::catalog().unwrap();
    }
}
