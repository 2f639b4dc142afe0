//! The tenant bot's default texts, compiled in from `templates/bot/tenant/`.

use shared::i18n::{Catalog, I18nError};

const FA: &str = include_str!("../../templates/bot/tenant/fa.toml");
const EN: &str = include_str!("../../templates/bot/tenant/en.toml");

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
