//! The Jalali (Solar Hijri) calendar used in Iran.
//!
//! The arithmetic comes from `icu_calendar`'s Persian calendar, whose year starts agree with
//! the University of Tehran's published Nowruz dates for 1206-1498 AP (1827-2119 CE). This
//! module only adds the conversions Madar needs and the Persian month names.

use std::fmt;

use icu_calendar::cal::Persian;
use icu_calendar::types::RataDie;
use icu_calendar::{Date, Iso};

/// Iran's offset from UTC: +03:30, all year round (daylight saving time ended in 2022).
pub const IRAN_UTC_OFFSET_SECONDS: i32 = 3 * 3600 + 30 * 60;

const SECONDS_PER_DAY: i64 = 86_400;
/// Rata Die (days since 0001-01-01 of the proleptic Gregorian calendar, counted from 1) of
/// 1970-01-01, the Unix epoch.
const UNIX_EPOCH_RATA_DIE: i64 = 719_163;

const MONTH_NAMES_FA: [&str; 12] = [
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
];

const MONTH_NAMES_EN: [&str; 12] = [
    "Farvardin",
    "Ordibehesht",
    "Khordad",
    "Tir",
    "Mordad",
    "Shahrivar",
    "Mehr",
    "Aban",
    "Azar",
    "Dey",
    "Bahman",
    "Esfand",
];

/// A day of the Jalali calendar. `month` is 1 (Farvardin) to 12 (Esfand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JalaliDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A date that does not exist in the calendar it was given in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JalaliError {
    #[error("{year}-{month:02}-{day:02} is not a valid Gregorian date; check the year, month (1-12) and day")]
    InvalidGregorian { year: i32, month: u8, day: u8 },
    #[error("{year}/{month:02}/{day:02} is not a valid Jalali date; months are 1-12, Farvardin to Shahrivar have 31 days, Mehr to Bahman 30, Esfand 29 (30 in leap years)")]
    InvalidJalali { year: i32, month: u8, day: u8 },
}

impl JalaliDate {
    /// A checked Jalali date.
    pub fn new(year: i32, month: u8, day: u8) -> Result<JalaliDate, JalaliError> {
        Date::try_new_persian(year, month, day)
            .map(|_| JalaliDate { year, month, day })
            .map_err(|_| JalaliError::InvalidJalali { year, month, day })
    }

    /// The Persian name of this date's month, for example "آبان".
    pub fn month_name_fa(&self) -> &'static str {
        month_name_fa(self.month)
    }

    /// The transliterated name of this date's month, for example "Aban".
    pub fn month_name_en(&self) -> &'static str {
        month_name_en(self.month)
    }

    /// Whether this date's year has 366 days (Esfand has 30 days).
    pub fn is_leap_year(&self) -> bool {
        Date::try_new_persian(self.year, 1, 1)
            .map(|d| d.is_in_leap_year())
            .unwrap_or(false)
    }
}

/// `1405/08/30`: the numeric form, with Latin digits. Use `i18n` for what people read.
impl fmt::Display for JalaliDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

/// The Jalali date of a Unix timestamp (seconds) seen at the given offset from UTC.
/// Use [`IRAN_UTC_OFFSET_SECONDS`] for Iran. Timestamps far outside any real use (beyond
/// about a million years) are clamped to the calendar's range instead of failing.
pub fn from_unix(ts: i64, utc_offset_seconds: i32) -> JalaliDate {
    from_date(Date::from_rata_die(
        rata_die_of_unix(ts, utc_offset_seconds),
        Persian,
    ))
}

/// The Gregorian date `(year, month, day)` of a Unix timestamp seen at the given offset.
pub fn gregorian_from_unix(ts: i64, utc_offset_seconds: i32) -> (i32, u8, u8) {
    let date = Date::from_rata_die(rata_die_of_unix(ts, utc_offset_seconds), Iso);
    (
        date.year().extended_year(),
        date.month().ordinal,
        date.day_of_month().0,
    )
}

/// The Jalali date of a Gregorian date.
pub fn from_gregorian(year: i32, month: u8, day: u8) -> Result<JalaliDate, JalaliError> {
    let iso = Date::try_new_iso(year, month, day).map_err(|_| JalaliError::InvalidGregorian {
        year,
        month,
        day,
    })?;
    Ok(from_date(iso.to_calendar(Persian)))
}

/// The Gregorian date `(year, month, day)` of a Jalali date.
pub fn to_gregorian(date: JalaliDate) -> Result<(i32, u8, u8), JalaliError> {
    let persian = Date::try_new_persian(date.year, date.month, date.day).map_err(|_| {
        JalaliError::InvalidJalali {
            year: date.year,
            month: date.month,
            day: date.day,
        }
    })?;
    let iso = persian.to_calendar(Iso);
    Ok((
        iso.year().extended_year(),
        iso.month().ordinal,
        iso.day_of_month().0,
    ))
}

/// فروردین ... اسفند for months 1-12; an empty string for anything else.
pub fn month_name_fa(month: u8) -> &'static str {
    month_index(month).map_or("", |i| MONTH_NAMES_FA[i])
}

/// Farvardin ... Esfand for months 1-12; an empty string for anything else.
pub fn month_name_en(month: u8) -> &'static str {
    month_index(month).map_or("", |i| MONTH_NAMES_EN[i])
}

fn month_index(month: u8) -> Option<usize> {
    (1..=12).contains(&month).then(|| usize::from(month - 1))
}

fn rata_die_of_unix(ts: i64, utc_offset_seconds: i32) -> RataDie {
    let local = ts.saturating_add(i64::from(utc_offset_seconds));
    let days = local.div_euclid(SECONDS_PER_DAY);
    RataDie::new(UNIX_EPOCH_RATA_DIE + days)
}

fn from_date(date: Date<Persian>) -> JalaliDate {
    JalaliDate {
        year: date.year().extended_year(),
        month: date.month().ordinal,
        day: date.day_of_month().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(year: i32, month: u8, day: u8) -> JalaliDate {
        JalaliDate { year, month, day }
    }

    #[test]
    fn known_dates() {
        assert_eq!(from_gregorian(2026, 11, 21), Ok(j(1405, 8, 30)));
        assert_eq!(from_gregorian(2026, 3, 21), Ok(j(1405, 1, 1)));
        assert_eq!(from_gregorian(2026, 3, 20), Ok(j(1404, 12, 29)));
        // 1403 is a leap year: Esfand has 30 days.
        assert_eq!(from_gregorian(2025, 3, 20), Ok(j(1403, 12, 30)));
        assert_eq!(from_gregorian(2025, 3, 21), Ok(j(1404, 1, 1)));
        assert_eq!(from_gregorian(2024, 3, 20), Ok(j(1403, 1, 1)));
        assert_eq!(from_gregorian(1979, 2, 11), Ok(j(1357, 11, 22)));
        assert_eq!(to_gregorian(j(1405, 8, 30)), Ok((2026, 11, 21)));
        assert!(j(1403, 1, 1).is_leap_year());
        assert!(!j(1404, 1, 1).is_leap_year());
    }

    /// Nowruz (1 Farvardin) of every Jalali year 1206-1498 as published by the University of
    /// Tehran's calendar centre (calendar.ut.ac.ir, as tabulated in icu_calendar's tests): one
    /// digit per year, the Gregorian day in March minus 20 (Gregorian year = Jalali + 621).
    const NOWRUZ_FIRST_YEAR: i32 = 1206;
    const NOWRUZ_MARCH_DAY_MINUS_20: [&str; 6] = [
        "21111111111111111111111111111111111110111011101110", // from 1206
        "11101110111011101110011112211221122112211221122112", // from 1256
        "21112111211121112111211121112111211111111111111111", // from 1306
        "11111111111111111110111011101110111011101110111011", // from 1356
        "10011001100110011001100110011001100010001000100010", // from 1406
        "0010001000100010000000011111111111111111111",        // from 1456
    ];

    #[test]
    fn nowruz_matches_university_of_tehran_table() {
        let days: Vec<u8> = NOWRUZ_MARCH_DAY_MINUS_20
            .concat()
            .bytes()
            .map(|b| 20 + (b - b'0'))
            .collect();
        assert_eq!(days.len(), 293);
        for (i, &march_day) in days.iter().enumerate() {
            let jy = NOWRUZ_FIRST_YEAR + i as i32;
            let gy = jy + 621;
            assert_eq!(
                from_gregorian(gy, 3, march_day),
                Ok(j(jy, 1, 1)),
                "{gy}-03-{march_day}"
            );
            assert_eq!(to_gregorian(j(jy, 1, 1)), Ok((gy, 3, march_day)), "{jy}");
            // A year is a leap year exactly when the next Nowruz is 366 days later.
            if let Some(&next_day) = days.get(i + 1) {
                let leap = is_366_days(gy, march_day, next_day);
                assert_eq!(j(jy, 1, 1).is_leap_year(), leap, "leap {jy}");
                assert_eq!(JalaliDate::new(jy, 12, 30).is_ok(), leap, "30 Esfand {jy}");
            }
        }
    }

    fn is_366_days(gy: i32, march_day: u8, next_march_day: u8) -> bool {
        let start = Date::try_new_iso(gy, 3, march_day)
            .expect("valid")
            .to_rata_die();
        let end = Date::try_new_iso(gy + 1, 3, next_march_day)
            .expect("valid")
            .to_rata_die();
        end.to_i64_date() - start.to_i64_date() == 366
    }

    #[test]
    fn round_trip_every_day_1900_to_2100() {
        // Walk day by day and check that the Jalali date advances by exactly one day each time.
        let mut previous = from_gregorian(1900, 1, 1).expect("valid start");
        let start_rd = Date::try_new_iso(1900, 1, 1).expect("valid").to_rata_die();
        let end_rd = Date::try_new_iso(2100, 12, 31)
            .expect("valid")
            .to_rata_die();
        let mut rd = start_rd;
        let mut days = 0;
        while rd < end_rd {
            rd = RataDie::new(rd.to_i64_date() + 1);
            let iso = Date::from_rata_die(rd, Iso);
            let (y, m, d) = (
                iso.year().extended_year(),
                iso.month().ordinal,
                iso.day_of_month().0,
            );
            let jd = from_gregorian(y, m, d).expect("valid gregorian");
            assert_eq!(to_gregorian(jd), Ok((y, m, d)));
            assert_eq!(JalaliDate::new(jd.year, jd.month, jd.day), Ok(jd));
            let expected_next = if jd.month == previous.month {
                j(previous.year, previous.month, previous.day + 1)
            } else if jd.year == previous.year {
                j(previous.year, previous.month + 1, 1)
            } else {
                j(previous.year + 1, 1, 1)
            };
            assert_eq!(jd, expected_next, "after {previous}");
            // Month lengths: 31 for months 1-6, 30 for 7-11, 29 or 30 for Esfand.
            if jd.day == 1 && jd.month != previous.month {
                let max = match previous.month {
                    1..=6 => 31,
                    7..=11 => 30,
                    _ if previous.is_leap_year() => 30,
                    _ => 29,
                };
                assert_eq!(
                    previous.day, max,
                    "length of {}/{}",
                    previous.year, previous.month
                );
            }
            previous = jd;
            days += 1;
        }
        assert_eq!(days, 73_413);
    }

    #[test]
    fn from_unix_uses_the_offset() {
        // 2026-11-21 00:00:00 UTC
        let ts = 1_795_219_200;
        assert_eq!(gregorian_from_unix(ts, 0), (2026, 11, 21));
        assert_eq!(from_unix(ts, 0), j(1405, 8, 30));
        // 20:30 UTC on 21 Nov is already 22 Nov (1 Azar) in Tehran.
        let evening = ts + 20 * 3600 + 30 * 60;
        assert_eq!(from_unix(evening, 0), j(1405, 8, 30));
        assert_eq!(from_unix(evening, IRAN_UTC_OFFSET_SECONDS), j(1405, 9, 1));
        // Before the epoch.
        assert_eq!(
            from_unix(-1, 0),
            from_gregorian(1969, 12, 31).expect("valid")
        );
        // Absurd inputs do not panic.
        let _ = from_unix(i64::MAX, i32::MAX);
        let _ = from_unix(i64::MIN, i32::MIN);
    }

    #[test]
    fn invalid_dates_are_errors() {
        assert!(from_gregorian(2026, 2, 29).is_err());
        assert!(from_gregorian(2026, 13, 1).is_err());
        assert!(to_gregorian(j(1404, 12, 30)).is_err());
        assert!(to_gregorian(j(1403, 12, 30)).is_ok());
        assert!(JalaliDate::new(1405, 7, 31).is_err());
        assert!(JalaliDate::new(1405, 0, 1).is_err());
        let message = JalaliDate::new(1405, 7, 31)
            .expect_err("invalid")
            .to_string();
        assert!(message.contains("1405/07/31"), "{message}");
    }

    #[test]
    fn month_names() {
        assert_eq!(month_name_fa(1), "فروردین");
        assert_eq!(month_name_fa(8), "آبان");
        assert_eq!(month_name_fa(12), "اسفند");
        assert_eq!(month_name_fa(0), "");
        assert_eq!(month_name_fa(13), "");
        assert_eq!(j(1405, 8, 30).month_name_en(), "Aban");
        assert_eq!(j(1405, 8, 30).to_string(), "1405/08/30");
    }
}
