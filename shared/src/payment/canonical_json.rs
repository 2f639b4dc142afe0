//! JSON with object keys sorted, recursively, written the way JavaScript's `JSON.stringify`
//! writes it: NowPayments signs its IPN bodies in this form.
//!
//! Written by hand rather than with `serde_json::to_string` because key order there depends
//! on a cargo feature (`preserve_order`) any crate in the build may switch on, and Rust writes
//! some numbers differently from JavaScript (`5.0` vs `5`, `1e-5` vs `0.00001`).

use serde_json::Value;

/// `value` as sorted, compact JSON.
pub(crate) fn sorted(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json escapes exactly what JSON.stringify escapes: quote, backslash, controls.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    n.as_f64().map(js_float).unwrap_or_else(|| n.to_string())
}

/// A float as JavaScript's `Number.prototype.toString` writes it (ECMA-262 Number::toString).
fn js_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    if f == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as JavaScript does.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let n = exponent + 1;
    let sign = if f < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e >= 0 { "+" } else { "-" };
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}e{e_sign}{}", e.abs())
        } else {
            format!("{first}.{rest}e{e_sign}{}", e.abs())
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let cases = [
            (4.99, "4.99"),
            (5.0, "5"),
            (0.00001234, "0.00001234"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123456.789, "123456.789"),
            (1e21, "1e+21"),
            (1.25e22, "1.25e+22"),
            (100000000000000000000.0, "100000000000000000000"),
            (-0.5, "-0.5"),
            (-0.0, "0"),
        ];
        for (f, expected) in cases {
            assert_eq!(js_float(f), expected, "{f}");
        }
    }

    #[test]
    fn keys_are_sorted_recursively_and_the_output_is_compact() {
        let value: Value = serde_json::from_str(
            r#"{"b": 1, "a": {"z": [3, {"y": 1.0, "x": "é/\n"}], "c": null}, "A": true}"#,
        )
        .unwrap_or(Value::Null);
        assert_eq!(
            sorted(&value),
            r#"{"A":true,"a":{"c":null,"z":[3,{"x":"é/\n","y":1}]},"b":1}"#
        );
        assert_eq!(sorted(&json!([])), "[]");
        assert_eq!(sorted(&json!({})), "{}");
    }
}
