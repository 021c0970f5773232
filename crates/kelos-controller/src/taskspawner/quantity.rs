//! Kubernetes resource quantities, just enough to validate flag values and compare quantities
//! semantically: the API server canonicalises `1000m` to `1` and `1024Mi` to `1Gi`, so a string
//! comparison would see drift that is not there.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The value of a quantity in units of 10^-9 (nano), or `None` when it is not a quantity.
/// Fractions below a nano-unit are rounded up, as Kubernetes does when it scales down.
pub fn parse(s: &str) -> Option<i128> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // mantissa * 10^exp10 * 2^exp2
    let mut digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return None;
    }
    if digits.is_empty() {
        digits.push('0');
    }
    let mantissa: i128 = digits.parse().ok()?;
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        other => {
            let exp = other.strip_prefix(['e', 'E'])?;
            let exp: i32 = exp.parse().ok()?;
            if !(-40..=40).contains(&exp) {
                return None;
            }
            exp10 += exp;
        }
    }
    let mut value = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    // To nano-units.
    exp10 += 9;
    if exp10 >= 0 {
        value = value.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let div = 10i128.checked_pow((-exp10) as u32)?;
        value = value / div + i128::from(value % div != 0);
    }
    Some(sign * value)
}

/// Whether two quantities mean the same amount (strings equal, or equal values).
pub fn same(a: &Quantity, b: &Quantity) -> bool {
    a.0 == b.0 || matches!((parse(&a.0), parse(&b.0)), (Some(x), Some(y)) if x == y)
}

/// Whether two resource lists hold the same names with semantically equal quantities; `None`
/// and an empty list are the same.
pub fn same_list(
    a: Option<&BTreeMap<String, Quantity>>,
    b: Option<&BTreeMap<String, Quantity>>,
) -> bool {
    let empty = BTreeMap::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    #[test]
    fn canonical_forms_are_equal() {
        assert!(same(&q("1000m"), &q("1")));
        assert!(same(&q("1024Mi"), &q("1Gi")));
        assert!(same(&q("0.5"), &q("500m")));
        assert!(same(&q("1e3"), &q("1k")));
        assert!(!same(&q("128974848"), &q("129e6")));
        assert!(!same(&q("100m"), &q("200m")));
        assert!(!same(&q("1Gi"), &q("1G")));
    }

    #[test]
    fn invalid_quantities() {
        for bad in ["", "lots", "1.2.3", "1Qi", ".", "--1", "1e"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("1n"), Some(1));
        assert_eq!(parse("-1"), Some(-1_000_000_000));
    }

    #[test]
    fn lists_compare_semantically() {
        let a: BTreeMap<_, _> = [("cpu".to_string(), q("1"))].into();
        let b: BTreeMap<_, _> = [("cpu".to_string(), q("1000m"))].into();
        assert!(same_list(Some(&a), Some(&b)));
        assert!(same_list(None, Some(&BTreeMap::new())));
        assert!(!same_list(Some(&a), None));
    }
}
