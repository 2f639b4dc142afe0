//! The tenant bot's default texts, compiled in from `templates/bot/tenant/`.

use shared::i18n::{Catalog, I18nError, Locale};

const FA: &str = include_str!("../../templates/bot/tenant/fa.toml");
const EN: &str = include_str!("../../templates/bot/tenant/en.toml");

pub fn catalog() -> Result<Catalog, I18nError> {
    let catalog = Catalog::from_sources(&[(Locale::Fa, FA), (Locale::En, EN)])?;
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
