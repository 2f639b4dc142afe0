//! The master bot's texts, compiled into the binary from `templates/bot/master/`.

use shared::i18n::{Catalog, I18nError};

const FA: &str = include_str!("../../templates/bot/master/fa.toml");
const EN: &str = include_str!("../../templates/bot/master/en.toml");

/// Parses the built-in catalog and checks that both languages have the same keys and placeholders.
pub fn catalog() -> Result<Catalog, I18nError> {
    shared::i18n::fa_en_catalog(FA, EN)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_texts_parse_and_agree_across_languages() {
        super::catalog().unwrap();
    }
}
